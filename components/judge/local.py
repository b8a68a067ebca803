"""Local judge: a Hugging Face causal LM, one batched forward pass per pair, no sampling.

Every prompt is ``prefix + suffix``: the prefix (chat template + rubric) is the same for all
pairs, the suffix holds the pair. With ``prefix_cache`` the prefix's key/value cache is
computed once and shared by every batch, so each pair only pays for its own tokens.
Sequences are left-padded with explicit position ids; only the last position's logits are
computed (``logits_to_keep=1``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, DynamicCache

from components.data.esci import Item
from components.judge.backend import JudgeRequest
from components.judge.reading import SoftLabel, grade_token_ids, soft_label_from_logits
from components.judge.rubric import (
    DEFAULT_RUBRIC,
    SYSTEM_PROMPT,
    RenderLimits,
    Rubric,
    chat_messages,
    render_user_message,
    rubric_for,
)

_MARK = "\u2063PAIR\u2063"  # placeholder that splits the rendered template into prefix/suffix
_TEMPLATE_ITEM = Item(item_id="template", title="template")


def pick_device(device: str = "auto") -> tuple[torch.device, torch.dtype]:
    """cuda + bf16 when a GPU is present (or asked for), else cpu + fp32."""
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dev = torch.device(device)
    return dev, (torch.bfloat16 if dev.type == "cuda" else torch.float32)


class LocalJudge:
    def __init__(self, model_dir: Path | str, model_name: str, device: str = "auto",
                 batch_size: int = 16, prefix_cache: bool = True, min_grade_mass: float = 0.05,
                 limits: RenderLimits | None = None, threads: int | None = None,
                 random_weights: bool = False, rubric: Rubric = DEFAULT_RUBRIC):
        if threads:
            torch.set_num_threads(threads)
        self.model_name = model_name
        self.device, self.dtype = pick_device(device)
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self.min_grade_mass = min_grade_mass
        self.limits = limits or RenderLimits()
        self.rubric = rubric
        self.prompt_version = rubric.version
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        if random_weights:  # same architecture and cost, no weight file (timing only)
            config = AutoConfig.from_pretrained(model_dir)
            self.model = AutoModelForCausalLM.from_config(config, dtype=self.dtype)
        else:
            self.model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=self.dtype)
        self.model.to(self.device).eval()
        self.pad_id = self.tokenizer.pad_token_id
        if self.pad_id is None:
            self.pad_id = self.tokenizer.eos_token_id or 0
        self.grade_ids = grade_token_ids(
            lambda text: self.tokenizer.encode(text, add_special_tokens=False), rubric.words)
        self.prefix_text, self.suffix_template = self._split_template()
        self.prefix_ids = self.tokenizer.encode(self.prefix_text, add_special_tokens=False)
        self._prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    @classmethod
    def from_config(cls, config) -> LocalJudge:
        from components.judge.weights import judge_model_path
        model_dir = config.model_dir or judge_model_path(config.model)
        return cls(model_dir, config.judge_model, device=config.device,
                   batch_size=config.batch_size, prefix_cache=config.prefix_cache,
                   min_grade_mass=config.min_grade_mass, limits=config.limits,
                   threads=config.threads,
                   rubric=rubric_for(config.answer_mode, config.layout))

    # -- prompt ---------------------------------------------------------------------------
    def _split_template(self) -> tuple[str, str]:
        messages = [*chat_messages(_TEMPLATE_ITEM, "x", self.limits, self.rubric)[:-1],
                    {"role": "user", "content": _MARK}]
        if self.tokenizer.chat_template:
            text = self.tokenizer.apply_chat_template(messages, tokenize=False,
                                                      add_generation_prompt=True)
        else:  # a base model: a plain-text frame
            text = f"{SYSTEM_PROMPT}\n\n{_MARK}\n\nGrade:"
        prefix, _, rest = text.partition(_MARK)
        return prefix, rest

    def prompt_text(self, request: JudgeRequest) -> str:
        return self.prefix_text + self.suffix_text(request)

    def suffix_text(self, request: JudgeRequest) -> str:
        user = render_user_message(request.item, request.keyphrase, self.limits, self.rubric)
        return user + self.suffix_template

    def suffix_ids(self, request: JudgeRequest) -> list[int]:
        return self.tokenizer.encode(self.suffix_text(request), add_special_tokens=False)

    # -- forward --------------------------------------------------------------------------
    def _prefix_cache(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self._prefix_kv is None:
            ids = torch.tensor([self.prefix_ids], device=self.device)
            with torch.inference_mode():
                out = self.model(input_ids=ids, use_cache=True)
            self._prefix_kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return self._prefix_kv

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        return ids.to(self.device), mask.to(self.device)

    def last_logits(self, suffixes: list[list[int]]) -> torch.Tensor:
        """Next-token logits after each prompt, shape (batch, vocab), float32 on cpu."""
        with torch.inference_mode():
            if self.prefix_cache:
                ids, mask = self._left_pad(suffixes)
                batch, plen = ids.shape[0], len(self.prefix_ids)
                cache = DynamicCache([(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                                      for k, v in self._prefix_cache()])
                full_mask = torch.cat([torch.ones((batch, plen), dtype=mask.dtype,
                                                  device=self.device), mask], dim=1)
                positions = plen + (mask.cumsum(-1) - 1).clamp(min=0)
                out = self.model(input_ids=ids, attention_mask=full_mask, position_ids=positions,
                                 past_key_values=cache, use_cache=True, logits_to_keep=1)
            else:
                ids, mask = self._left_pad([self.prefix_ids + s for s in suffixes])
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                 use_cache=False, logits_to_keep=1)
        return out.logits[:, -1, :].float().cpu()

    def judge(self, requests: Sequence[JudgeRequest]) -> list[SoftLabel]:
        suffixes = [self.suffix_ids(r) for r in requests]
        order = sorted(range(len(requests)), key=lambda i: len(suffixes[i]))  # less padding
        labels: list[SoftLabel | None] = [None] * len(requests)
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            logits = self.last_logits([suffixes[i] for i in batch]).numpy()
            for row, i in zip(logits, batch, strict=True):
                raw = self.tokenizer.decode([int(np.argmax(row))])
                labels[i] = soft_label_from_logits(row, self.grade_ids, self.min_grade_mass, raw)
        return labels  # type: ignore[return-value]
