"""The calibrated judge: a LoRA fine-tune of the local LLM judge on human-labelled pairs.

ELLM-rele (arXiv 2411.13045) calibrates its LLM relevance judge by fine-tuning it on human
(item, keyphrase, grade) labels. Here the judge keeps its prompt and its way of answering:
for each pair the prompt is ``judge.prefix_ids + judge.suffix_ids(request)`` exactly as
``LocalJudge.judge`` builds it, and the model learns, at the answer position, the
relevance logit

    z = logsumexp(logits[relevant answer tokens]) - logsumexp(logits[other answer tokens])

against the human grade's gain (ESCI gains E 1.0, S 0.1, C 0.01, I 0.0) with binary cross
entropy on ``sigmoid(z)``. The answer tokens are the rubric's (``judge.grade_ids``: every
spelling of each answer word, pooled with logsumexp as ``reading.py`` pools them), split
into relevant (E, S) and not relevant (C, I). So ``sigmoid(z)`` is exactly the
``p_relevant`` that ``judge.judge()`` reports: for the binary rubric
P(Yes) / (P(Yes) + P(No)), for the graded one P(E) + P(S) over the four grades. The loss
trains the very number the pipeline reads, not a proxy of it.

**Training changes the judge in place**: ``judge.model`` becomes a peft model (the base
model's attention projections get LoRA layers), and from then on ``judge.judge()`` scores
with the adapter. The judge's prefix KV cache is dropped whenever the weights change (it
was computed with the old ones). Only the adapter's parameters are trained; the base
weights stay as they were.

Example (on a GPU machine)::

    judge = LocalJudge(model_dir, "qwen2.5-coder-0.5b-instruct", device="cuda")
    stats = train_judge_lora(judge, [(JudgeRequest(item, "steel bottle"), "E"), ...],
                             JudgeLoraConfig(), validate=lambda: ndcg_at_10(judge))
    labels = judge.judge(requests)                 # scored with the adapter
    save_judge_lora(judge, "artifacts/judge-lora", {"training_pairs": len(examples)})
    # later, elsewhere: load_judge_lora(LocalJudge(model_dir, name), "artifacts/judge-lora")
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from pydantic.dataclasses import dataclass as pydantic_dataclass
from tqdm.auto import tqdm

from components.config import STEP_CONFIG, load_yaml
from components.judge.backend import JudgeRequest
from components.judge.reading import RELEVANT
from components.judge.rubric import GRADES

if TYPE_CHECKING:
    from components.judge.local import LocalJudge

log = logging.getLogger(__name__)

ESCI_GAINS: dict[str, float] = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
CARD_JSON = "judge_lora.json"


@pydantic_dataclass(frozen=True, config=STEP_CONFIG)
class JudgeLoraConfig:
    """LoRA fine-tuning of the judge. Loads from YAML with ``JudgeLoraConfig.from_file``."""

    r: int = 16                                  # LoRA rank
    alpha: float = 32.0                          # LoRA scaling numerator (scale = alpha / r)
    dropout: float = 0.05                        # dropout on the LoRA branch's input
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    epochs: float = 2.0                          # passes over the pairs; a fraction ends early
    batch_size: int = 32
    learning_rate: float = 2e-4                  # AdamW, adapter parameters only
    weight_decay: float = 0.0
    warmup_fraction: float = 0.05                # of all steps, then linear decay to 0
    max_grad_norm: float = 1.0                   # gradient clipping (0: off)
    max_length: int = 160                        # prompt tokens (prefix + pair); longer pairs
                                                 # are left out and counted
    seed: int = 0                                # adapter init and batch order
    gains: dict[str, float] = field(default_factory=lambda: dict(ESCI_GAINS))  # grade -> target

    def __post_init__(self) -> None:
        checks = [
            (isinstance(self.r, int) and self.r >= 1, f"r must be an int >= 1, got {self.r}"),
            (self.alpha > 0, f"alpha must be > 0, got {self.alpha}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (len(self.target_modules) > 0
             and all(isinstance(m, str) and m for m in self.target_modules),
             f"target_modules must be non-empty module names, got {self.target_modules}"),
            (self.epochs > 0, f"epochs must be > 0, got {self.epochs}"),
            (self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate}"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (0.0 <= self.warmup_fraction < 1.0,
             f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}"),
            (self.max_grad_norm >= 0, f"max_grad_norm must be >= 0, got {self.max_grad_norm}"),
            (self.max_length >= 2, f"max_length must be >= 2, got {self.max_length}"),
            (set(self.gains) == set(GRADES),
             f"gains must name exactly the grades {GRADES}, got {sorted(self.gains)}"),
            (all(0.0 <= v <= 1.0 for v in self.gains.values()),
             f"gains are BCE targets and must lie in [0, 1], got {self.gains}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"JudgeLoraConfig: {message}")

    @classmethod
    def from_file(cls, path: Path | str, **overrides) -> JudgeLoraConfig:
        return load_yaml(cls, path, **overrides)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["target_modules"] = list(self.target_modules)
        return data


@dataclass
class LoraStats:
    """What one training run did. ``validation[k]`` is the score after epoch ``k + 1``."""

    steps: int
    examples: int                    # training pairs used (after the max_length cut)
    skipped_too_long: int            # pairs left out: prompt longer than max_length
    seconds: float                   # training time, validation excluded
    examples_per_s: float            # pairs processed (all epochs) per training second
    losses: list[float]              # one per optimizer step
    validation: list[float] = field(default_factory=list)
    best_epoch: int | None = None    # 1-based; its adapter is the one kept
    validation_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- the objective (pure functions of tensors) ----------------------------------------------
def answer_token_groups(grade_ids: dict[str, list[int]]) -> tuple[list[int], list[int]]:
    """The rubric's answer tokens split into (relevant: E, S) and (not relevant: C, I)."""
    relevant = [t for g in GRADES if g in RELEVANT for t in grade_ids.get(g, [])]
    other = [t for g in GRADES if g not in RELEVANT for t in grade_ids.get(g, [])]
    if not relevant or not other:
        raise ValueError(f"the rubric must have answer words on both sides of the relevance "
                         f"cut (E/S vs C/I), got grades {sorted(grade_ids)}")
    return relevant, other


def relevance_logit(logits: torch.Tensor, relevant_ids: Sequence[int],
                    other_ids: Sequence[int]) -> torch.Tensor:
    """``logit(p_relevant)`` from answer-position logits of shape (batch, vocab): every
    spelling pooled with logsumexp, the same reading as ``reading.soft_label_from_logits``."""
    if logits.ndim != 2:
        raise ValueError(f"expected logits of shape (batch, vocab), got {tuple(logits.shape)}")
    logits = logits.float()
    rel = torch.logsumexp(logits[:, list(relevant_ids)], dim=-1)
    oth = torch.logsumexp(logits[:, list(other_ids)], dim=-1)
    return rel - oth


def calibration_loss(logits: torch.Tensor, targets: torch.Tensor, relevant_ids: Sequence[int],
                     other_ids: Sequence[int]) -> torch.Tensor:
    """Mean BCE between ``sigmoid(relevance_logit)`` and soft targets in [0, 1], shape
    (batch,)."""
    z = relevance_logit(logits, relevant_ids, other_ids)
    if targets.shape != z.shape:
        raise ValueError(f"targets must have shape {tuple(z.shape)} (one gain per pair), "
                         f"got {tuple(targets.shape)}")
    return torch.nn.functional.binary_cross_entropy_with_logits(z, targets.to(z))


# -- batches ----------------------------------------------------------------------------------
def left_pad(rows: Sequence[Sequence[int]], pad_id: int
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask, position_ids), left-padded so every row's last position
    is its answer position; positions count real tokens only (as ``LocalJudge`` does)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, width - len(row):] = torch.tensor(list(row), dtype=torch.long)
        mask[i, width - len(row):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    return ids, mask, positions


def _encode(judge: LocalJudge, examples: Sequence[tuple[JudgeRequest, str]],
            config: JudgeLoraConfig) -> tuple[list[list[int]], list[float], int]:
    rows, targets, skipped = [], [], 0
    for n, (request, grade) in enumerate(examples):
        if grade not in config.gains:
            raise ValueError(f"example {n}: grade must be one of {GRADES}, got {grade!r}")
        ids = list(judge.prefix_ids) + judge.suffix_ids(request)
        if len(ids) > config.max_length:
            skipped += 1
            continue
        rows.append(ids)
        targets.append(config.gains[grade])
    if skipped:
        log.warning("judge LoRA: %d of %d pairs are longer than max_length=%d tokens and are "
                    "left out", skipped, len(examples), config.max_length)
    if not rows:
        raise ValueError(f"no training pair fits max_length={config.max_length} tokens "
                         f"(the shared prefix alone is {len(judge.prefix_ids)})")
    return rows, targets, skipped


def bucketed_batches(lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                     bucket_batches: int = 16) -> list[list[int]]:
    """One epoch's batches of row indices: shuffled, then sorted by length within windows of
    ``bucket_batches`` batches (little padding), and the batches shuffled again. Every index
    appears exactly once; only the last batch may be smaller."""
    order = torch.randperm(len(lengths), generator=generator).tolist()
    window = batch_size * max(1, bucket_batches)
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start:start + window], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    full = [b for b in batches if len(b) == batch_size]
    rest = [i for b in batches if len(b) < batch_size for i in b]
    shuffled = [full[i] for i in torch.randperm(len(full), generator=generator).tolist()]
    return shuffled + [rest[i:i + batch_size] for i in range(0, len(rest), batch_size)]


# -- the adapter ----------------------------------------------------------------------------
def _is_peft(model) -> bool:
    from peft import PeftModel
    return isinstance(model, PeftModel)


def attach_lora(judge: LocalJudge, config: JudgeLoraConfig) -> None:
    """Wrap ``judge.model`` with a fresh, trainable LoRA adapter (zero update at start)."""
    from peft import LoraConfig, get_peft_model
    if _is_peft(judge.model):
        raise ValueError("the judge already carries a LoRA adapter; start from a fresh "
                         "LocalJudge")
    torch.manual_seed(config.seed)
    peft_config = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                             target_modules=list(config.target_modules), bias="none",
                             task_type="CAUSAL_LM")
    judge.model = get_peft_model(judge.model, peft_config)
    judge._prefix_kv = None


def adapter_state(judge: LocalJudge) -> dict[str, torch.Tensor]:
    """A detached copy of the adapter's parameters."""
    from peft import get_peft_model_state_dict
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(judge.model).items()}


def _restore(judge: LocalJudge, state: dict[str, torch.Tensor]) -> None:
    from peft import set_peft_model_state_dict
    set_peft_model_state_dict(judge.model, state)
    judge._prefix_kv = None


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()  # cpu: the judge runs in fp32


# -- training ---------------------------------------------------------------------------------
def train_judge_lora(judge: LocalJudge, examples: Sequence[tuple[JudgeRequest, str]],
                     config: JudgeLoraConfig | None = None,
                     validate: Callable[[], float] | None = None,
                     eval_every_epoch: bool = True) -> LoraStats:
    """Fine-tune ``judge`` in place on human-graded pairs ``(request, grade)``, grade in ESCI.

    ``validate`` (higher is better, e.g. validation nDCG@10 computed through
    ``judge.judge``) runs after every epoch when ``eval_every_epoch`` (else once, at the
    end); the adapter of the best epoch is kept and restored at the end. Afterwards
    ``judge.judge()`` scores with the adapter and the model is back in eval mode.
    """
    from transformers import get_linear_schedule_with_warmup

    config = config or JudgeLoraConfig()
    rows, targets, skipped = _encode(judge, examples, config)
    relevant_ids, other_ids = answer_token_groups(judge.grade_ids)
    attach_lora(judge, config)
    model, device = judge.model, judge.device
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(rows) / config.batch_size)
    total_steps = max(1, round(config.epochs * steps_per_epoch))
    scheduler = get_linear_schedule_with_warmup(
        optimizer, round(config.warmup_fraction * total_steps), total_steps)
    generator = torch.Generator().manual_seed(config.seed)
    stats = LoraStats(steps=0, examples=len(rows), skipped_too_long=skipped, seconds=0.0,
                      examples_per_s=0.0, losses=[])
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    seen, epoch = 0, 0
    progress = tqdm(total=total_steps, desc="judge LoRA", unit="step", disable=None)
    while stats.steps < total_steps:
        epoch += 1
        start = time.perf_counter()
        model.train()
        for batch in bucketed_batches([len(r) for r in rows], config.batch_size, generator):
            if stats.steps >= total_steps:
                break
            ids, mask, positions = left_pad([rows[i] for i in batch], judge.pad_id)
            with _autocast(device):
                out = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                            position_ids=positions.to(device), use_cache=False,
                            logits_to_keep=1)
            loss = calibration_loss(out.logits[:, -1, :],
                                    torch.tensor([targets[i] for i in batch], device=device),
                                    relevant_ids, other_ids)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            stats.steps += 1
            seen += len(batch)
            stats.losses.append(float(loss.detach()))
            progress.update(1)
            progress.set_postfix(loss=f"{stats.losses[-1]:.4f}", epoch=epoch)
        model.eval()
        judge._prefix_kv = None  # the weights changed: the cached prefix is stale
        stats.seconds += time.perf_counter() - start
        last = stats.steps >= total_steps
        if validate is not None and (eval_every_epoch or last):
            start = time.perf_counter()
            score = float(validate())
            stats.validation_seconds += time.perf_counter() - start
            stats.validation.append(score)
            log.info("judge LoRA epoch %d: loss %.4f, validation %.4f", epoch,
                     stats.losses[-1], score)
            if best is None or score > best[0]:
                best = (score, adapter_state(judge))
                stats.best_epoch = epoch
    progress.close()
    if best is not None and eval_every_epoch:
        _restore(judge, best[1])
    model.eval()
    judge._prefix_kv = None
    stats.examples_per_s = seen / stats.seconds if stats.seconds > 0 else 0.0
    return stats


# -- save / load ----------------------------------------------------------------------------
def save_judge_lora(judge: LocalJudge, out_dir: Path | str, card: dict[str, Any]) -> Path:
    """Write the adapter (peft ``save_pretrained``), ``judge_lora.json`` (the card: base
    model, prompt version, and what ``card`` adds, e.g. training pairs, config, validation
    figures) and a short README.md model card made from it."""
    if not _is_peft(judge.model):
        raise ValueError("the judge has no LoRA adapter to save (train or load one first)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    judge.model.save_pretrained(out)
    full = {"base_model": judge.model_name, "prompt_version": judge.prompt_version, **card}
    (out / CARD_JSON).write_text(json.dumps(full, indent=2, sort_keys=True, default=str) + "\n")
    (out / "README.md").write_text(model_card(full))
    return out


def model_card(card: dict[str, Any]) -> str:
    lines = ["# kpdistill calibrated judge (LoRA adapter)", "",
             "A LoRA adapter for the local LLM judge, fine-tuned on human-graded "
             "(item, keyphrase, grade) pairs with BCE on the judge's own P(relevant) "
             "against the ESCI gain of the grade (`components/judge/lora.py`). Load it with "
             "`load_judge_lora(LocalJudge(...), this_folder)`, with the same base model and "
             "prompt version.", "", "| field | value |", "|---|---|"]
    for key in sorted(card):
        value = card[key]
        if isinstance(value, dict | list | tuple):
            value = json.dumps(value, sort_keys=True, default=str)
        lines.append(f"| {key} | `{value}` |" if key != "base_model" else f"| {key} | {value} |")
    return "\n".join(lines) + "\n"


def load_judge_lora(judge: LocalJudge, adapter_dir: Path | str) -> dict[str, Any]:
    """Attach a saved adapter to ``judge`` (in place, for inference) and return its card.

    Raises ValueError when the adapter was trained for another base model or prompt
    version: its calibration would not hold."""
    from peft import PeftModel
    folder = Path(adapter_dir)
    if _is_peft(judge.model):
        raise ValueError("the judge already carries a LoRA adapter; load into a fresh "
                         "LocalJudge")
    card_path = folder / CARD_JSON
    card = json.loads(card_path.read_text()) if card_path.exists() else {}
    for key, have in (("base_model", judge.model_name), ("prompt_version", judge.prompt_version)):
        if key in card and card[key] != have:
            raise ValueError(f"adapter {folder} was trained with {key}={card[key]!r}, "
                             f"this judge has {have!r}")
    judge.model = PeftModel.from_pretrained(judge.model, folder).eval()
    judge._prefix_kv = None
    return card
