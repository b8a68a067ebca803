"""The assistant: a cross-encoder trained on the judge's soft labels (its pair inputs and pair
scorer, which evaluation loads too, are ``components.models.cross_encoder``).

Objectives (``CrossEncoderConfig.objective``):
- ``bce``: one logit, BCE against the judge's P(relevant) (``components.losses.judge_bce``);
  saved as a sentence-transformers ``CrossEncoder`` (num_labels=1, sigmoid = P(relevant)).
- ``kl``: four logits (E/S/C/I), KL from the judge's grade distribution; P(relevant) is
  P(E) + P(S). Kept for comparison: the shipped model is the one-logit contract.
- with ``dimension_weight > 0`` (bce or listwise): one 3-way head per judge dimension
  (yes / no / not mentioned) beside the relevance logit, trained on the labels' dimension
  answers (multi-dimensional distillation, ``components.losses.dimension_kl``); the model's
  config names the dimensions, and scorers read logit 0 as relevance.
- ``listwise``: one logit, trained on lists of one keyphrase's judged items: KL from the
  softmax of the judge's logit(P(relevant)) / temperature to the softmax of the logits
  (``listwise_teacher_loss``). The judge's P(Yes) is compressed and uncalibrated; its order
  within a keyphrase is what carries the signal, and this objective learns only that.
  Saved like ``bce`` (sigmoid of the logit is a score, not a calibrated probability).
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm import tqdm

from components.contracts import DIMENSION_ANSWERS, ITEM_FIELDS
from components.data.esci import GRADES, Item
from components.device import autocast, pick_device, seed_everything, synchronize
from components.judge.labels import TeacherLabel
from components.losses.dimension_kl import dimension_kl_loss
from components.losses.judge_bce import judge_bce_loss
from components.models.cross_encoder import CrossEncoderScorer, PairTokens, transformers_model
from components.training.config import CrossEncoderConfig, base_model_path
from components.training.schedule import adamw_with_warmup


@dataclass
class TrainStats:
    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    validation: list[tuple[int, float]] = field(default_factory=list)
    curve: list = field(default_factory=list)  # (step, loss) of every step, for plots

    @property
    def examples_per_s(self) -> float:
        return self.examples / self.seconds if self.seconds else float("nan")

    def to_dict(self) -> dict:
        return {"steps": self.steps, "examples": self.examples,
                "seconds": round(self.seconds, 2), "examples_per_s": round(self.examples_per_s, 1),
                "final_loss": self.losses[-1] if self.losses else None,
                "validation": self.validation}


def _expected_conversion(record: logging.LogRecord) -> bool:
    """False for sentence-transformers' warning that it turns a bi-encoder checkpoint into a
    CrossEncoder: starting the assistant from the MiniLM bi-encoder's weights is the design."""
    return "model to CrossEncoder" not in record.getMessage()


def build_cross_encoder(config: CrossEncoderConfig, device: torch.device | None = None):
    from sentence_transformers import CrossEncoder

    dims = len(config.dimension_names) if config.dimension_weight > 0 else 0
    num_labels = len(GRADES) if config.objective == "kl" else 1 + len(DIMENSION_ANSWERS) * dims
    source = logging.getLogger("sentence_transformers.base.model")
    source.addFilter(_expected_conversion)
    try:
        ce = CrossEncoder(str(base_model_path(config.base_model)), num_labels=num_labels,
                          max_length=config.max_length, device=str(device or pick_device()))
    finally:
        source.removeFilter(_expected_conversion)
    model = transformers_model(ce)
    model.float()  # train in fp32 (+ bf16 autocast) even from fp16 weights
    if dims:  # saved in config.json: scorers read logit 0 as relevance, the rest as heads
        model.config.kpdistill_dimensions = list(config.dimension_names)
    return ce


def dimension_targets(labels: Sequence[TeacherLabel], names: Sequence[str]
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """The judge's answers as ``[pairs, dims, 3]`` (yes / no / na) and a ``[pairs, dims]``
    mask that is 0 where a label has no answer for a dimension."""
    target = torch.full((len(labels), len(names), len(DIMENSION_ANSWERS)),
                        1.0 / len(DIMENSION_ANSWERS))
    mask = torch.zeros(len(labels), len(names))
    for row, lab in enumerate(labels):
        for col, name in enumerate(names):
            answer = (lab.dimensions or {}).get(name)
            if answer:
                target[row, col] = torch.tensor([float(answer[a]) for a in DIMENSION_ANSWERS])
                mask[row, col] = 1.0
    return target, mask


def kl_grade_loss(logits: torch.Tensor, probs: torch.Tensor) -> torch.Tensor:
    """KL(judge grade distribution || softmax(logits)); both ``[batch, 4]`` in E/S/C/I order."""
    if logits.shape != probs.shape or logits.shape[-1] != len(GRADES):
        raise ValueError(f"expected [batch, {len(GRADES)}] logits and grade probabilities, got "
                         f"{tuple(logits.shape)} and {tuple(probs.shape)}")
    target = probs.float().clamp_min(1e-6)
    target = target / target.sum(dim=-1, keepdim=True)
    return F.kl_div(F.log_softmax(logits.float(), dim=-1), target, reduction="batchmean")


def listwise_teacher_loss(logits: torch.Tensor, p_relevant: torch.Tensor,
                          temperature: float = 1.0, eps: float = 1e-4) -> torch.Tensor:
    """KL(softmax(logit(p) / T) || softmax(logits)) per list, mean over lists.

    ``logits`` and ``p_relevant`` are ``[lists, list_size]``: one keyphrase's items per row.
    """
    if logits.shape != p_relevant.shape or logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"expected [lists, list_size >= 2] logits and P(relevant), got "
                         f"{tuple(logits.shape)} and {tuple(p_relevant.shape)}; group the "
                         "teacher labels by keyphrase (components.training.examples."
                         "distillation_lists)")
    p = p_relevant.float().clamp(eps, 1 - eps)
    target = torch.softmax(torch.log(p / (1 - p)) / temperature, dim=-1)
    return F.kl_div(F.log_softmax(logits.float(), dim=-1), target, reduction="batchmean")


def _label_lists(examples: list, list_size: int, rng: random.Random) -> list[list]:
    """Examples grouped by keyphrase and cut into lists of ``list_size`` (remainders dropped)."""
    by_keyphrase: dict[str, list] = {}
    for ex in examples:
        by_keyphrase.setdefault(ex[0], []).append(ex)
    lists = []
    for keyphrase in sorted(by_keyphrase):
        group = by_keyphrase[keyphrase]
        rng.shuffle(group)
        lists += [group[i:i + list_size] for i in range(0, len(group) - list_size + 1, list_size)]
    if not lists:
        raise ValueError(f"listwise objective: no keyphrase has {list_size} teacher labels")
    return lists


def train_cross_encoder(labels: Sequence[TeacherLabel], items: Mapping[str, Item],
                        config: CrossEncoderConfig, out_dir: Path | str,
                        validate: Callable[[object], float] | None = None,
                        device: torch.device | None = None,
                        item_fields: Sequence[str] = ITEM_FIELDS):
    """Train on teacher labels, save a CrossEncoder directory at ``out_dir``; returns stats.

    ``validate(scorer) -> float`` (higher is better, validation queries only) picks the best
    checkpoint when ``config.eval_every > 0``.
    """
    if not labels:
        raise ValueError("no teacher labels to train the cross-encoder on")
    device = device or pick_device()
    seed_everything(config.seed)
    ce = build_cross_encoder(config, device)
    model, tokens = transformers_model(ce), PairTokens(ce.tokenizer, config.max_length)
    model.train()
    examples = [(lab.keyphrase, items[lab.item_id].text(item_fields), lab) for lab in labels]
    rng = random.Random(config.seed)
    listwise = config.objective == "listwise"
    lists_per_batch = max(1, config.batch_size // config.list_size)
    if listwise:  # a "unit" of sampling is one keyphrase's list of list_size items
        examples = _label_lists(examples, config.list_size, rng)
    unit = lists_per_batch if listwise else config.batch_size
    steps_per_epoch = math.ceil(len(examples) / unit)
    total = config.max_steps or max(1, int(steps_per_epoch * config.epochs))
    optimizer, scheduler = adamw_with_warmup(model.parameters(), config.learning_rate, total,
                                             config.warmup_fraction)
    stats, best = TrainStats(), (-float("inf"), None)
    order: list = []
    synchronize(device)
    start = time.perf_counter()
    for step in tqdm(range(total), desc=f"cross-encoder ({config.objective})", mininterval=10):
        if len(order) < unit:
            order += rng.sample(examples, len(examples))
        batch, order = order[:unit], order[unit:]
        if listwise:
            batch = [ex for group in batch for ex in group]
        features = tokens.features([b[0] for b in batch], [b[1] for b in batch], device)
        with autocast(device):
            logits = model(**features).logits
        if listwise:
            target = torch.tensor([b[2].p_relevant for b in batch], device=device)
            loss = listwise_teacher_loss(logits[:, 0].view(-1, config.list_size),
                                         target.view(-1, config.list_size),
                                         config.teacher_temperature)
        elif config.objective == "bce":
            target = torch.tensor([b[2].p_relevant for b in batch], device=device)
            loss = judge_bce_loss(logits[:, 0], target)
        else:
            target = torch.tensor([[b[2].probs[g] for g in GRADES] for b in batch], device=device)
            loss = kl_grade_loss(logits, target)
        if config.dimension_weight > 0:
            names = config.dimension_names
            dim_target, dim_mask = dimension_targets([b[2] for b in batch], names)
            loss = loss + config.dimension_weight * dimension_kl_loss(
                logits[:, 1:].reshape(len(batch), len(names), len(DIMENSION_ANSWERS)),
                dim_target.to(device), dim_mask.to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        stats.steps += 1
        stats.examples += len(batch)
        stats.curve.append((step + 1, loss.detach()))  # no sync: read once at the end
        if step % 20 == 0 or step == total - 1:
            stats.losses.append(round(loss.item(), 5))
        if validate and config.eval_every and ((step + 1) % config.eval_every == 0
                                               or step == total - 1):
            synchronize(device)
            pause = time.perf_counter()
            model.eval()
            value = validate(CrossEncoderScorer(ce, config.max_length))
            model.train()
            stats.validation.append((step + 1, round(value, 5)))
            if value > best[0]:
                best = (value, {k: v.detach().clone() for k, v in model.state_dict().items()})
            start += time.perf_counter() - pause
    synchronize(device)
    stats.seconds = time.perf_counter() - start
    stats.curve = [(s, round(float(v), 5)) for s, v in stats.curve]
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    out_dir = Path(out_dir)
    ce.save(str(out_dir))
    return ce, stats
