"""Multi-task training of a sentence-transformers student: task name → (examples, loss).

Shape borrowed from sentence-transformers' trainer: a dict of task datasets, a dict of task
losses and a sampler that picks which task the next batch comes from (``round_robin`` cycles
through the tasks and scales each task's loss by its weight; ``proportional`` draws a task
with probability ∝ weight × examples; ``weighted`` draws it with probability ∝ weight, so the
weights are the tasks' shares of the steps; losses unscaled in both).
One optimiser step per batch; each task keeps its own shuffled, endless batch stream.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from components.device import autocast, synchronize
from components.losses.batch import TextBatch
from components.training.examples import ListExample, PairExample
from components.training.schedule import adamw_with_warmup


@dataclass
class Task:
    name: str
    examples: Sequence[PairExample] | Sequence[ListExample]
    loss: nn.Module
    batch_size: int
    weight: float = 1.0
    unique_keyphrases: bool = False  # contrastive: no two rows of a batch share a keyphrase

    def __post_init__(self):
        if not self.examples:
            raise ValueError(f"task {self.name!r} has no examples")
        if self.batch_size < 1:
            raise ValueError(f"task {self.name!r}: batch_size must be >= 1")


def task_schedule(tasks: Sequence[Task], steps: int, sampler: str, seed: int = 0) -> list[str]:
    """The task of each step: round-robin, or drawn ∝ weight × number of examples
    (``proportional``), or ∝ weight (``weighted``)."""
    names = [t.name for t in tasks]
    if sampler == "round_robin":
        return [names[i % len(names)] for i in range(steps)]
    if sampler in ("proportional", "weighted"):
        sizes = np.array([t.weight * (len(t.examples) if sampler == "proportional" else 1)
                          for t in tasks], dtype=float)
        if sizes.sum() <= 0 or (sizes < 0).any():
            raise ValueError(f"{sampler} sampler needs non-negative task weights, not all zero")
        rng = np.random.default_rng(seed)
        return [str(n) for n in rng.choice(names, size=steps, p=sizes / sizes.sum())]
    raise ValueError(f"unknown sampler {sampler!r}; use round_robin, proportional or weighted")


def batch_stream(task: Task, seed: int) -> Iterator[list]:
    """Endless batches of a task's examples, reshuffled every epoch.

    With ``unique_keyphrases`` a batch never holds a keyphrase twice (its other items would be
    false in-batch negatives); the batch size is then capped at the number of keyphrases.
    """
    rng = random.Random(seed)
    size = task.batch_size
    if task.unique_keyphrases:
        size = min(size, len({e.keyphrase for e in task.examples}))
    pending: list = []
    while True:
        epoch = list(task.examples)
        rng.shuffle(epoch)
        pending += epoch
        while True:
            batch, rest, seen = [], [], set()
            for ex in pending:
                if len(batch) < size and not (task.unique_keyphrases and ex.keyphrase in seen):
                    batch.append(ex)
                    seen.add(ex.keyphrase)
                else:
                    rest.append(ex)
            if len(batch) < size:
                break  # not enough left: add the next epoch
            pending = rest
            yield batch


def collate(examples: list) -> TextBatch:
    if isinstance(examples[0], ListExample):
        return TextBatch(keyphrases=[e.keyphrase for e in examples],
                         items=[t for e in examples for t in e.item_texts],
                         list_size=len(examples[0].item_texts),
                         labels=torch.tensor([e.teacher_scores for e in examples]))
    labels = None
    if examples[0].label is not None:
        labels = torch.tensor([e.label for e in examples], dtype=torch.float32)
    groups = torch.tensor([hash(e.keyphrase) % (2**31) for e in examples])
    return TextBatch(keyphrases=[e.keyphrase for e in examples],
                     items=[e.item_text for e in examples], labels=labels, groups=groups)


def _prepare(model):
    return getattr(model, "preprocess", None) or model.tokenize


class TokenCache:
    """Each distinct text tokenized once, by the model's own ``preprocess`` (its stripping,
    truncation and special tokens), and batches assembled from the cached ids, padded to their
    longest row as ``preprocess`` pads them. A student's tasks hold a few thousand distinct
    texts but tokenizing them at every step took most of a step on a GPU (83 ms for a
    distillation step's 544 texts on the H200 machine)."""

    def __init__(self, model, texts: Sequence[str], chunk: int = 1024):
        self.model = model
        self.rows: dict[str, dict[str, list[int]]] = {}
        self.pad: dict[str, int] = {"input_ids": model.tokenizer.pad_token_id or 0}
        self.add(texts, chunk)

    def add(self, texts: Sequence[str], chunk: int = 1024) -> None:
        new = [t for t in dict.fromkeys(texts) if t not in self.rows]
        prepare = _prepare(self.model)
        for start in range(0, len(new), chunk):
            part = new[start:start + chunk]
            features = {k: v for k, v in prepare(part).items() if torch.is_tensor(v)}
            lengths = features["attention_mask"].sum(dim=1).tolist()
            for i, text in enumerate(part):
                self.rows[text] = {k: v[i, :lengths[i]].tolist() for k, v in features.items()}

    def __len__(self) -> int:
        return len(self.rows)

    def features(self, texts: Sequence[str], device: torch.device) -> dict[str, torch.Tensor]:
        self.add([t for t in texts if t not in self.rows])
        rows = [self.rows[t] for t in texts]
        width = max(len(r["input_ids"]) for r in rows)
        out = {}
        for key in rows[0]:
            array = np.full((len(rows), width), self.pad.get(key, 0), dtype=np.int64)
            for i, r in enumerate(rows):
                array[i, :len(r[key])] = r[key]
            out[key] = torch.from_numpy(array).to(device, non_blocking=True)
        return out


def embed(model, texts: list[str], device: torch.device,
          cache: TokenCache | None = None) -> torch.Tensor:
    """Sentence embeddings with gradients (the model's own pooling and normalisation)."""
    if cache is not None:
        features = cache.features(texts, device)
    else:
        features = {k: v.to(device) for k, v in _prepare(model)(texts).items()
                    if torch.is_tensor(v)}
    return model(features)["sentence_embedding"]


def embed_batch(model, batch: TextBatch, device: torch.device,
                cache: TokenCache | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(keyphrase embeddings, item embeddings) of a batch, each side in its own forward pass.

    A pass pads every text to its longest one, and keyphrases are a few tokens where items run
    to ``max_seq_length``: for 30 batches of 16 (query, product) pairs of the train split at 64
    tokens, one pass over both sides ran 61,440 token positions, a pass per side 36,976
    (27,007 real tokens). Padding is masked: the embeddings are those of one pass."""
    return (embed(model, batch.keyphrases, device, cache),
            embed(model, batch.items, device, cache))


def task_texts(tasks: Sequence[Task]) -> list[str]:
    """Every distinct keyphrase and item text of the tasks' examples."""
    texts: dict[str, None] = {}
    for task in tasks:
        for ex in task.examples:
            texts[ex.keyphrase] = None
            for t in (ex.item_texts if isinstance(ex, ListExample) else (ex.item_text,)):
                texts[t] = None
    return list(texts)


@dataclass
class MultiTaskStats:
    steps: int = 0
    seconds: float = 0.0
    examples: dict = field(default_factory=dict)
    texts: int = 0
    losses: dict = field(default_factory=dict)
    validation: list = field(default_factory=list)
    best_step: int | None = None
    curve: list = field(default_factory=list)  # (step, task, loss) of every step, for plots
    tokenize_seconds: float = 0.0  # every distinct text tokenized once, before the first step

    def to_dict(self) -> dict:
        total = sum(self.examples.values())
        return {"steps": self.steps, "seconds": round(self.seconds, 2),
                "examples": self.examples, "examples_per_s": round(total / self.seconds, 1)
                if self.seconds else None,
                "texts_per_s": round(self.texts / self.seconds, 1) if self.seconds else None,
                "final_loss": {k: v[-1] for k, v in self.losses.items() if v},
                "validation": self.validation, "best_step": self.best_step,
                "tokenize_seconds": self.tokenize_seconds}


def train_multitask(model, tasks: Sequence[Task], steps: int, sampler: str,
                    learning_rate: float, warmup_fraction: float, device: torch.device,
                    seed: int = 0, validate: Callable[[object], float] | None = None,
                    eval_every: int = 0) -> MultiTaskStats:
    """Train ``model`` in place; with ``validate`` (higher is better) keep the best checkpoint."""
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise ValueError(f"task names must be distinct, got {names}")
    by_name = {t.name: t for t in tasks}
    streams = {t.name: batch_stream(t, seed + i) for i, t in enumerate(tasks)}
    schedule = task_schedule(tasks, steps, sampler, seed)
    optimizer, scheduler = adamw_with_warmup(model.parameters(), learning_rate, steps,
                                             warmup_fraction)
    stats = MultiTaskStats(examples={n: 0 for n in names}, losses={n: [] for n in names})
    best = (-float("inf"), None)
    model.to(device)
    model.train()
    tokenize_start = time.perf_counter()
    cache = TokenCache(model, task_texts(tasks))
    stats.tokenize_seconds = round(time.perf_counter() - tokenize_start, 2)
    synchronize(device)
    start = time.perf_counter()
    for step, name in enumerate(tqdm(schedule, desc="student", mininterval=10)):
        task = by_name[name]
        batch = collate(next(streams[name]))
        with autocast(device):
            keyphrase_emb, item_emb = embed_batch(model, batch, device, cache)
        loss = task.loss(keyphrase_emb, item_emb, batch)
        if sampler == "round_robin" and task.weight != 1.0:
            loss = task.weight * loss  # round-robin: the weight scales the task's gradient
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        stats.steps += 1
        stats.examples[name] += len(batch)
        stats.texts += len(batch) + len(batch.items)
        stats.curve.append((step + 1, name, loss.detach()))  # no sync: read once at the end
        if step % 25 == 0 or step == steps - 1:
            stats.losses[name].append(round(loss.item(), 5))
        if validate and eval_every and ((step + 1) % eval_every == 0 or step == steps - 1):
            synchronize(device)
            pause = time.perf_counter()
            model.eval()
            value = validate(model)
            model.train()
            stats.validation.append((step + 1, round(value, 5)))
            if value > best[0]:
                best = (value, {k: v.detach().clone() for k, v in model.state_dict().items()})
                stats.best_step = step + 1
            start += time.perf_counter() - pause
    synchronize(device)
    stats.seconds = time.perf_counter() - start
    stats.curve = [(s, n, round(float(v), 5)) for s, n, v in stats.curve]
    if best[1] is not None:
        model.load_state_dict(best[1])
    model.eval()
    return stats
