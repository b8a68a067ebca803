"""Local judge: a Hugging Face causal LM, one batched forward pass per pair, no sampling.

Every prompt is ``prefix + suffix``: the prefix (chat template + rubric) is the same for all
pairs, the suffix holds the pair. With ``prefix_cache`` the prefix's key/value cache is
computed once and shared by every batch, so each pair only pays for its own tokens.
Sequences are left-padded with explicit position ids; only the last position's logits are
computed (``logits_to_keep=1``).

Item prefix sharing (``item_prefix=True``, product_first rubrics only): the per-pair suffix
splits again into ``item part`` (the ``<product>`` block and its newline, the same for every
keyphrase of an item) and ``pair part`` (search query + question + the template's tail). The
item parts of a group of distinct items run once, as one left-padded batch on top of the
rubric prefix's cache; each pair then takes its item's row of that cache (``index_select``
on the batch axis) and only its own pair part runs, as one left-padded batch with the
attention mask ``[prefix ones | item mask | pair mask]``. The text is split right after a
newline, where the tokenizers' pre-tokenizers always cut, so ``prefix + item + pair`` token
ids equal the whole prompt's (tests/judge/test_item_prefix.py checks it on Qwen's and
SmolLM2's tokenizers).

Dimension judging (``judge_dimensions``, components/judge/dimensions.py): each pair is asked
one question per dimension, each prompt ``prefix + product block + query and question``; the
product blocks run once per distinct item on the rubric prefix's cache (the same item
sharing), so an item's questions cost its product block once plus each question's own
tokens.

``counters`` tallies what ran through the model (tokens with and without padding, attended
keys, logit rows), for ``components.judge.throughput.measure_throughput``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, DynamicCache

from components.data.esci import Item
from components.device import compute_dtype, pick_device
from components.judge.backend import JudgeRequest
from components.judge.dimensions import (
    DEFAULT_DIMENSION_PROMPTS,
    DIMENSIONS,
    DimensionAnswer,
    DimensionJudgment,
    DimensionPrompts,
    answer_token_ids,
    answers_from_logits,
)
from components.judge.reading import SoftLabel, grade_token_ids, soft_labels_from_logits
from components.judge.rubric import (
    DEFAULT_RUBRIC,
    RenderLimits,
    Rubric,
    chat_messages,
    render_product,
    render_user_message,
    system_prompt,
)

_MARK = "\u2063PAIR\u2063"  # placeholder that splits the rendered template into prefix/suffix
_TEMPLATE_ITEM = Item(item_id="template", title="template")


def split_template(tokenizer, limits: RenderLimits, rubric: Rubric) -> tuple[str, str]:
    """The rendered chat template around the user message: (prefix, tail). A prompt is
    ``prefix + render_user_message(...) + tail``."""
    messages = [*chat_messages(_TEMPLATE_ITEM, "x", limits, rubric)[:-1],
                {"role": "user", "content": _MARK}]
    if tokenizer.chat_template:
        text = tokenizer.apply_chat_template(messages, tokenize=False,
                                             add_generation_prompt=True)
    else:  # a base model: a plain-text frame
        text = f"{system_prompt(rubric)}\n\n{_MARK}\n\nGrade:"
    prefix, _, rest = text.partition(_MARK)
    return prefix, rest


def item_prompt_part(item: Item, limits: RenderLimits, rubric: Rubric) -> str:
    """The item part of a product_first prompt: the product block and the newline after it.
    It ends right after a newline: no tokenizer's pre-tokenizer merges across that cut."""
    return render_product(item, limits, rubric.fields) + "\n"


class LocalJudge:
    def __init__(self, model_dir: Path | str, model_name: str, device: str = "auto",
                 batch_size: int = 16, prefix_cache: bool = True, min_grade_mass: float = 0.05,
                 limits: RenderLimits | None = None, threads: int | None = None,
                 random_weights: bool = False, rubric: Rubric = DEFAULT_RUBRIC,
                 item_prefix: bool = False, item_group_size: int | None = None):
        """``item_prefix``: share each distinct item's part of the prompt between its pairs
        (needs a product_first rubric; builds on the rubric prefix's cache whatever
        ``prefix_cache`` says). ``batch_size`` caps the pairs of one forward pass;
        ``item_group_size`` (default ``batch_size``) caps the distinct items whose item parts
        run together (a group also closes once its pairs would pass ``batch_size``)."""
        if item_prefix and rubric.layout != "product_first":
            raise ValueError(f"item_prefix needs a product_first rubric; {rubric.version} is "
                             f"{rubric.layout}")
        if batch_size < 1 or (item_group_size is not None and item_group_size < 1):
            raise ValueError("batch_size and item_group_size must be >= 1")
        if threads:
            torch.set_num_threads(threads)
        self.model_name = model_name
        self.device = pick_device(device)
        self.dtype = compute_dtype(self.device)
        self.batch_size = batch_size
        self.prefix_cache = prefix_cache
        self.item_prefix = item_prefix
        self.item_group_size = item_group_size
        self.min_grade_mass = min_grade_mass
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
        self.use_rubric(rubric, limits or RenderLimits())
        self._counts: dict[str, int] = {}
        self._decoded: dict[int, str] = {}  # top token id -> its text (the raw answer)
        self._answer_ids: dict[str, dict[str, list[int]]] = {}  # dimension version -> ids
        self._device_counts = torch.zeros(2, dtype=torch.long, device=self.device)
        self.reset_counters()

    @classmethod
    def from_config(cls, config) -> LocalJudge:
        from components.judge.weights import judge_model_path
        model_dir = config.model_dir or judge_model_path(config.model)
        judge = cls(model_dir, config.model, device=config.device,
                    batch_size=config.batch_size, prefix_cache=config.prefix_cache,
                    min_grade_mass=config.min_grade_mass, limits=config.limits,
                    threads=config.threads, rubric=config.rubric(),
                    item_prefix=config.item_prefix)
        if config.lora_adapter:  # the calibrated judge (components.judge.lora)
            from components.judge.lora import load_judge_lora
            load_judge_lora(judge, config.lora_adapter)
            judge.model_name = config.judge_model
        return judge

    def use_rubric(self, rubric: Rubric, limits: RenderLimits | None = None) -> None:
        """Ask with ``rubric`` from now on (the loaded model stays; the prefix cache is
        rebuilt on the next call)."""
        if self.item_prefix and rubric.layout != "product_first":
            raise ValueError(f"item_prefix needs a product_first rubric; {rubric.version} is "
                             f"{rubric.layout}")
        self.rubric, self.prompt_version = rubric, rubric.version
        self.limits = limits or RenderLimits()
        self.grade_ids = grade_token_ids(
            lambda text: self.tokenizer.encode(text, add_special_tokens=False), rubric.words)
        self.prefix_text, self.suffix_template = self._split_template()
        self.prefix_ids = self.tokenizer.encode(self.prefix_text, add_special_tokens=False)
        self._prefix_kv: list[tuple[torch.Tensor, torch.Tensor]] | None = None

    # -- prompt ---------------------------------------------------------------------------
    def _split_template(self) -> tuple[str, str]:
        return split_template(self.tokenizer, self.limits, self.rubric)

    def prompt_text(self, request: JudgeRequest) -> str:
        return self.prefix_text + self.suffix_text(request)

    def suffix_text(self, request: JudgeRequest) -> str:
        user = render_user_message(request.item, request.keyphrase, self.limits, self.rubric)
        return user + self.suffix_template

    def suffix_ids(self, request: JudgeRequest) -> list[int]:
        return self.tokenizer.encode(self.suffix_text(request), add_special_tokens=False)

    def split_suffix_text(self, request: JudgeRequest) -> tuple[str, str]:
        """``suffix_text`` as (item part, pair part): the product block with the newline
        after it, then the rest. Only for product_first rubrics."""
        item = item_prompt_part(request.item, self.limits, self.rubric)
        suffix = self.suffix_text(request)
        if self.rubric.layout != "product_first" or not suffix.startswith(item):
            raise ValueError(f"{self.rubric.version}: the prompt does not start with the "
                             "product block; item prefixes need a product_first rubric")
        return item, suffix[len(item):]

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False)

    def _encode_many(self, texts: list[str]) -> list[list[int]]:
        if not texts:
            return []
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def _decode_one(self, token_id: int) -> str:
        text = self._decoded.get(token_id)
        if text is None:
            text = self._decoded[token_id] = self.tokenizer.decode([token_id])
        return text

    # -- forward --------------------------------------------------------------------------
    @property
    def counters(self) -> dict[str, int]:
        """What ran through the model since ``reset_counters``: forwards, tokens_run (padding
        included), tokens_real, attended_keys (real keys summed over real tokens),
        logit_rows. Reading it synchronises the device."""
        real, keys = self._device_counts.tolist()
        return {**self._counts, "tokens_real": real, "attended_keys": keys}

    def reset_counters(self) -> None:
        self._counts = dict.fromkeys(("forwards", "tokens_run", "logit_rows"), 0)
        self._device_counts.zero_()

    def _count(self, mask: torch.Tensor, positions: torch.Tensor) -> None:
        """Tally one forward: ``mask`` (batch, new) of real tokens, their ``positions``
        (= real tokens before them, so each attends ``position + 1`` real keys). Sums stay
        on the device: no synchronisation per batch."""
        self._counts["forwards"] += 1
        self._counts["tokens_run"] += mask.numel()
        self._counts["logit_rows"] += mask.shape[0]
        self._device_counts[0] += mask.sum()
        self._device_counts[1] += ((positions + 1) * mask).sum()

    def _prefix_cache(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if self._prefix_kv is None:
            ids = torch.tensor([self.prefix_ids], device=self.device)
            with torch.inference_mode():
                out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
            self._count(torch.ones_like(ids), torch.arange(ids.shape[1], device=self.device))
            self._prefix_kv = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
        return self._prefix_kv

    def _run_on_cache(self, past: list[tuple[torch.Tensor, torch.Tensor]],
                      past_mask: torch.Tensor, rows: list[list[int]]):
        """Forward left-padded ``rows`` on top of cached keys/values ``past`` (batch-major,
        one row per row of ``rows``) whose real positions ``past_mask`` marks. Returns the
        model output and the attention mask over the whole sequence."""
        ids, mask = self._left_pad(rows)
        full_mask = torch.cat([past_mask, mask], dim=1)
        positions = past_mask.sum(-1, keepdim=True) + (mask.cumsum(-1) - 1).clamp(min=0)
        out = self.model(input_ids=ids, attention_mask=full_mask, position_ids=positions,
                         past_key_values=DynamicCache(past), use_cache=True, logits_to_keep=1)
        self._count(mask, positions)
        return out, full_mask

    def _prefix_rows(self, batch: int) -> tuple[list[tuple[torch.Tensor, torch.Tensor]],
                                                torch.Tensor]:
        past = [(k.expand(batch, -1, -1, -1), v.expand(batch, -1, -1, -1))
                for k, v in self._prefix_cache()]
        return past, torch.ones((batch, len(self.prefix_ids)), dtype=torch.long,
                                device=self.device)

    def _left_pad(self, rows: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, width - len(row):] = torch.tensor(row, dtype=torch.long)
            mask[i, width - len(row):] = 1
        return ids.to(self.device), mask.to(self.device)

    def last_logits(self, suffixes: list[list[int]]) -> torch.Tensor:
        """Next-token logits after each prompt, shape (batch, vocab), on the model's device."""
        with torch.inference_mode():
            if self.prefix_cache:
                out, _ = self._run_on_cache(*self._prefix_rows(len(suffixes)), suffixes)
            else:
                ids, mask = self._left_pad([self.prefix_ids + s for s in suffixes])
                positions = (mask.cumsum(-1) - 1).clamp(min=0)
                out = self.model(input_ids=ids, attention_mask=mask, position_ids=positions,
                                 use_cache=False, logits_to_keep=1)
                self._count(mask, positions)
        return out.logits[:, -1, :]

    def item_cache(self, items: list[list[int]]
                   ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]:
        """Keys/values of ``prefix + item`` for each item's token ids, as one left-padded
        batch: per layer (keys, values) of shape (items, heads, prefix + longest item, dim),
        and the mask of real positions, shape (items, prefix + longest item)."""
        with torch.inference_mode():
            out, mask = self._run_on_cache(*self._prefix_rows(len(items)), items)
        return [(layer.keys, layer.values) for layer in out.past_key_values.layers], mask

    def pair_logits(self, item_kv: list[tuple[torch.Tensor, torch.Tensor]],
                    item_mask: torch.Tensor, rows: torch.Tensor,
                    pairs: list[list[int]]) -> torch.Tensor:
        """Next-token logits of each pair part ``pairs[j]`` after item row ``rows[j]`` of an
        ``item_cache``: shape (pairs, vocab), on the model's device."""
        rows = rows.to(self.device)
        past = [(k.index_select(0, rows), v.index_select(0, rows)) for k, v in item_kv]
        with torch.inference_mode():
            out, _ = self._run_on_cache(past, item_mask.index_select(0, rows), pairs)
        return out.logits[:, -1, :]

    def _batches_shared_items(self, requests: Sequence[JudgeRequest]
                              ) -> Iterator[tuple[list[int], torch.Tensor]]:
        """(request indices, their logits) batch by batch, each item part run once."""
        return self._shared_item_batches([self.split_suffix_text(r) for r in requests])

    def _shared_item_batches(self, parts: Sequence[tuple[str, str]]
                             ) -> Iterator[tuple[list[int], torch.Tensor]]:
        """(row indices, their logits) batch by batch for prompts ``prefix + item + pair``
        given as (item part, pair part) rows: each distinct item part runs once."""
        item_index: dict[str, int] = {}
        item_texts: list[str] = []
        pair_item: list[int] = []
        pair_texts: list[str] = []
        for item_text, pair_text in parts:
            k = item_index.get(item_text)
            if k is None:
                k = item_index[item_text] = len(item_texts)
                item_texts.append(item_text)
            pair_item.append(k)
            pair_texts.append(pair_text)
        # One batched (Rust, multi-threaded) tokenizer call for each part, not one per pair.
        items = self._encode_many(item_texts)
        pairs = self._encode_many(pair_texts)
        pairs_of: list[list[int]] = [[] for _ in items]
        for i, k in enumerate(pair_item):
            pairs_of[k].append(i)
        # Groups of items of similar length (little padding): at most item_group_size items,
        # and no more pairs than one batch unless a single item has more.
        group_cap = self.item_group_size or self.batch_size
        groups: list[list[int]] = []
        group: list[int] = []
        n_pairs = 0
        for k in sorted(range(len(items)), key=lambda k: len(items[k])):
            if group and (len(group) >= group_cap
                          or n_pairs + len(pairs_of[k]) > self.batch_size):
                groups.append(group)
                group, n_pairs = [], 0
            group.append(k)
            n_pairs += len(pairs_of[k])
        if group:
            groups.append(group)
        for group in groups:
            item_kv, item_mask = self.item_cache([items[k] for k in group])
            row_of = {k: row for row, k in enumerate(group)}
            members = sorted((i for k in group for i in pairs_of[k]),
                             key=lambda i: len(pairs[i]))
            for start in range(0, len(members), self.batch_size):
                batch = members[start:start + self.batch_size]
                rows = torch.tensor([row_of[pair_item[i]] for i in batch], dtype=torch.long)
                yield batch, self.pair_logits(item_kv, item_mask, rows,
                                              [pairs[i] for i in batch])
            del item_kv, item_mask

    def _batches(self, requests: Sequence[JudgeRequest]
                 ) -> Iterator[tuple[list[int], torch.Tensor]]:
        return self._plain_batches([self.suffix_text(r) for r in requests])

    def _plain_batches(self, suffix_texts: Sequence[str]
                       ) -> Iterator[tuple[list[int], torch.Tensor]]:
        """(row indices, their logits) for prompts ``prefix + suffix``, batch by batch."""
        suffixes = self._encode_many(list(suffix_texts))
        order = sorted(range(len(suffixes)), key=lambda i: len(suffixes[i]))  # less padding
        for start in range(0, len(order), self.batch_size):
            batch = order[start:start + self.batch_size]
            yield batch, self.last_logits([suffixes[i] for i in batch])

    # -- dimensions (components.judge.dimensions) -----------------------------------------
    def dimension_parts(self, request: JudgeRequest, prompts: DimensionPrompts
                        ) -> list[tuple[str, str]]:
        """(item part, pair part) of each dimension question's suffix, in DIMENSIONS order:
        the prompt is ``prefix_text + item part + pair part``."""
        item = prompts.item_part(request.item, self.limits)
        return [(item, prompts.pair_part(request.keyphrase, d, self.limits)
                 + self.suffix_template) for d in DIMENSIONS]

    def dimension_prompt_text(self, request: JudgeRequest, dimension: str,
                              prompts: DimensionPrompts = DEFAULT_DIMENSION_PROMPTS) -> str:
        item, pair = self.dimension_parts(request, prompts)[DIMENSIONS.index(dimension)]
        return self.prefix_text + item + pair

    def _dimension_ids(self, prompts: DimensionPrompts) -> dict[str, list[int]]:
        ids = self._answer_ids.get(prompts.version)
        if ids is None:
            ids = self._answer_ids[prompts.version] = answer_token_ids(self._encode,
                                                                       prompts.words)
        return ids

    def judge_dimensions(self, requests: Sequence[JudgeRequest],
                         prompts: DimensionPrompts = DEFAULT_DIMENSION_PROMPTS
                         ) -> list[DimensionJudgment]:
        """Every dimension's answer for each request, in order: one forward pass (one
        next-token distribution) per question. With ``prefix_cache`` (the default) each
        distinct item's product block runs once on top of the shared prefix's cache and
        each question pays only for its query line and question; without it every question
        runs as a whole prompt (the reference)."""
        if self.rubric.instruction:
            raise ValueError(f"{self.rubric.version} asks its question in the system message; "
                             "the dimension questions are asked under the plain system message: "
                             "switch the judge to a rubric without a shared instruction first")
        token_ids = self._dimension_ids(prompts)
        parts = [part for r in requests for part in self.dimension_parts(r, prompts)]
        batches = (self._shared_item_batches(parts) if self.prefix_cache
                   else self._plain_batches([item + pair for item, pair in parts]))
        answers: list[DimensionAnswer | None] = [None] * len(parts)
        for batch, logits in batches:
            read = answers_from_logits(logits, token_ids, self.min_grade_mass,
                                       self._decode_one)
            for i, answer in zip(batch, read, strict=True):
                answers[i] = answer
        n = len(DIMENSIONS)
        return [DimensionJudgment(dict(zip(DIMENSIONS, answers[k * n:(k + 1) * n],
                                           strict=True)))
                for k in range(len(requests))]

    def judge(self, requests: Sequence[JudgeRequest]) -> list[SoftLabel]:
        batches = (self._batches_shared_items(requests) if self.item_prefix
                   else self._batches(requests))
        labels: list[SoftLabel | None] = [None] * len(requests)
        for batch, logits in batches:
            read = soft_labels_from_logits(logits, self.grade_ids, self.min_grade_mass,
                                           self._decode_one)
            for i, label in zip(batch, read, strict=True):
                labels[i] = label
        return labels  # type: ignore[return-value]
