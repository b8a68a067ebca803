"""Judge candidate pairs into the durable store, resumably, then export teacher labels.

    python -m components.judge.run --candidates pairs.jsonl --store judge.sqlite \\
        --out teacher_labels.jsonl [--config judge.yaml] [--model NAME] [--limit N] [--shuffle S]

Pairs already in the store (same judge model and prompt version) are skipped, so a killed
run picks up where it stopped. Unreadable answers are stored with their raw text and
counted; they never stop the run. With ``dimensions: true`` in the config the judge also
answers the dimension questions (components/judge/dimensions.py) of every pair, stored and
resumed apart (keyed by the dimension prompts' version), and the labels carry them.
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm import tqdm

from components.data.esci import Item
from components.judge.backend import JudgeBackend, JudgeRequest
from components.judge.dimensions import DimensionPrompts
from components.judge.labels import TeacherLabel, save_teacher_labels
from components.judge.pairs import CandidatePair, load_candidates
from components.judge.rubric import PROMPT_VERSION
from components.judge.store import JudgmentStore, StoredDimensions, StoredJudgment


def make_backend(config) -> JudgeBackend:
    """The backend a JudgeConfig names: the HTTP endpoint's or the local model."""
    if config.backend == "openai":
        from components.judge.remote import OpenAIJudge
        return OpenAIJudge.from_config(config)
    from components.judge.local import LocalJudge
    return LocalJudge.from_config(config)


def all_stored(pairs: Sequence[CandidatePair], store: JudgmentStore, judge_model: str,
               prompt_version: str, dimension_version: str | None = None) -> bool:
    """Whether ``store`` already holds every pair's grade (and, with ``dimension_version``,
    its dimension answers) from this judge and prompt: then there is nothing to judge."""
    keys = {p.key for p in pairs}
    if not keys <= store.done_pairs(judge_model, prompt_version):
        return False
    return dimension_version is None or keys <= store.done_dimension_pairs(judge_model,
                                                                          dimension_version)


class StoredOnlyJudge:
    """Stands in for the judge when :func:`all_stored` holds: the labels are read from the
    store, so the model (seconds to minutes to load, a GGUF conversion on first use) is never
    loaded. Asked to judge anything, it refuses."""

    def __init__(self, model_name: str, prompt_version: str):
        self.model_name, self.prompt_version = model_name, prompt_version

    def judge(self, requests: list[JudgeRequest]) -> list:
        raise RuntimeError(f"{len(requests)} pairs to judge, but the judge was not loaded: "
                           "every pair was expected in the store")

    def judge_dimensions(self, requests: list[JudgeRequest], prompts) -> list:
        return self.judge(requests)


@dataclass(frozen=True)
class RunStats:
    total: int
    skipped: int
    judged: int
    unreadable: int
    seconds: float
    dimensions_judged: int = 0      # pairs whose dimension questions ran now
    dimensions_skipped: int = 0     # pairs whose dimension answers were already stored
    dimensions_unreadable: int = 0  # unreadable dimension answers (of 8 per pair) now
    dimensions_seconds: float = 0.0

    @property
    def pairs_per_s(self) -> float:
        return self.judged / self.seconds if self.seconds > 0 else 0.0


def unique_pairs(pairs: Sequence[CandidatePair]) -> list[CandidatePair]:
    """First occurrence of each (item, keyphrase)."""
    seen: set[tuple[str, str]] = set()
    out = []
    for pair in pairs:
        if pair.key not in seen:
            seen.add(pair.key)
            out.append(pair)
    return out


def judge_candidates(pairs: Sequence[CandidatePair], items: dict[str, Item],
                     backend: JudgeBackend, store: JudgmentStore, chunk_size: int = 32,
                     prompt_version: str | None = None, progress: bool = True,
                     dimension_prompts: DimensionPrompts | None = None) -> RunStats:
    """Judge every pair not yet in ``store``, committing one chunk at a time.

    ``prompt_version`` defaults to the backend's (its rubric's), else ``PROMPT_VERSION``.
    With ``dimension_prompts`` the backend also answers those dimension questions for every
    pair whose answers of that version are not stored yet (``backend.judge_dimensions``)."""
    prompt_version = prompt_version or getattr(backend, "prompt_version", PROMPT_VERSION)
    if dimension_prompts is not None and not hasattr(backend, "judge_dimensions"):
        raise ValueError(f"dimension judging needs a backend with judge_dimensions (the local "
                         f"judge); {type(backend).__name__} has none")
    pairs = unique_pairs(pairs)
    missing = sorted({p.item_id for p in pairs} - items.keys())
    if missing:
        raise KeyError(f"{len(missing)} candidate items have no text, e.g. {missing[:3]}")
    done = store.done_pairs(backend.model_name, prompt_version)
    todo = [p for p in pairs if p.key not in done]

    def save(chunk, labels) -> int:
        store.put_many(StoredJudgment(backend.model_name, prompt_version, p.item_id,
                                      p.keyphrase, p.query_id, p.source, label)
                       for p, label in zip(chunk, labels, strict=True))
        return sum(label.status != "ok" for label in labels)

    unreadable, seconds = _judge_in_chunks(todo, items, backend.judge, save, chunk_size,
                                           f"judge {backend.model_name}", progress)
    dims = {}
    if dimension_prompts is not None:
        dims = judge_dimension_pairs(pairs, items, backend, store, dimension_prompts,
                                     chunk_size, progress)
    return RunStats(len(pairs), len(pairs) - len(todo), len(todo), unreadable, seconds, **dims)


def judge_dimension_pairs(pairs: Sequence[CandidatePair], items: dict[str, Item], backend,
                          store: JudgmentStore, prompts: DimensionPrompts,
                          chunk_size: int = 32, progress: bool = True) -> dict:
    """The dimension answers of every pair not yet in ``store`` under ``prompts.version``,
    one committed chunk at a time (resumable). Returns RunStats' dimension fields."""
    done = store.done_dimension_pairs(backend.model_name, prompts.version)
    todo = [p for p in pairs if p.key not in done]

    def save(chunk, answers) -> int:
        rows = [StoredDimensions.of(backend.model_name, prompts.version, p.item_id,
                                    p.keyphrase, a) for p, a in zip(chunk, answers, strict=True)]
        store.put_dimensions(rows)
        return sum(r.unreadable for r in rows)

    unreadable, seconds = _judge_in_chunks(
        todo, items, lambda requests: backend.judge_dimensions(requests, prompts), save,
        chunk_size, f"dimensions {prompts.version}", progress)
    return {"dimensions_judged": len(todo), "dimensions_skipped": len(pairs) - len(todo),
            "dimensions_unreadable": unreadable, "dimensions_seconds": seconds}


def _judge_in_chunks(todo: Sequence[CandidatePair], items: dict[str, Item],
                     ask: Callable[[list[JudgeRequest]], list], save: Callable[[list, list], int],
                     chunk_size: int, desc: str, progress: bool) -> tuple[int, float]:
    """Ask ``ask`` about ``todo`` one chunk at a time and commit each chunk's answers with
    ``save`` (which returns how many were unreadable) before the next: a killed run loses at
    most the chunk in flight. Returns (unreadable, seconds)."""
    start, unreadable = time.perf_counter(), 0
    bar = tqdm(total=len(todo), unit="pair", desc=desc, disable=not progress)
    for offset in range(0, len(todo), chunk_size):
        chunk = list(todo[offset:offset + chunk_size])
        unreadable += save(chunk, ask([JudgeRequest(items[p.item_id], p.keyphrase)
                                       for p in chunk]))
        bar.update(len(chunk))
        bar.set_postfix(unreadable=unreadable)
    bar.close()
    return unreadable, time.perf_counter() - start


def teacher_labels(pairs: Sequence[CandidatePair], store: JudgmentStore, judge_model: str,
                   prompt_version: str = PROMPT_VERSION,
                   dimension_version: str | None = None) -> list[TeacherLabel]:
    """The stored judgments of ``pairs`` (in their order, with their source); with
    ``dimension_version``, each with its stored dimension answers of that version."""
    stored = {(j.item_id, j.keyphrase): j
              for j in store.judgments(judge_model, prompt_version, dimension_version)}
    return [stored[p.key].teacher_label(p.source) for p in unique_pairs(pairs)
            if p.key in stored]


def main(argv: list[str] | None = None) -> None:
    from components.data import load_items
    from components.judge.config import load_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--candidates", required=True)
    parser.add_argument("--store", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--config", default=None)
    parser.add_argument("--model", default=None, help="judge model name (overrides config)")
    parser.add_argument("--model-dir", default=None, help="a transformers directory")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--shuffle", type=int, default=None, metavar="SEED",
                        help="judge in a seeded random order: a run stopped early (or cut by "
                             "--limit) then holds a uniform sample of every source")
    args = parser.parse_args(argv)
    config = load_config(args.config, model=args.model, model_dir=args.model_dir)
    pairs = load_candidates(args.candidates)
    if args.shuffle is not None:
        random.Random(args.shuffle).shuffle(pairs)
    pairs = pairs[: args.limit]
    backend = make_backend(config)
    with JudgmentStore(args.store) as store:
        stats = judge_candidates(pairs, load_items(), backend, store, config.chunk_size,
                                 dimension_prompts=config.dimension_prompts())
        labels = teacher_labels(pairs, store, backend.model_name,
                                getattr(backend, "prompt_version", PROMPT_VERSION),
                                config.dimension_version if config.dimensions else None)
    save_teacher_labels(args.out, labels)
    print(f"judged {stats.judged} (skipped {stats.skipped} already stored, "
          f"{stats.unreadable} unreadable) in {stats.seconds:.1f}s; "
          f"{len(labels)} labels -> {args.out}")
    if config.dimensions:
        print(f"dimensions {config.dimension_version}: judged {stats.dimensions_judged} pairs "
              f"(skipped {stats.dimensions_skipped}, {stats.dimensions_unreadable} unreadable "
              f"answers) in {stats.dimensions_seconds:.1f}s")


if __name__ == "__main__":
    main()
