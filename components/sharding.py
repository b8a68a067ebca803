"""Sharding the pair work (judging, pool scoring) over parallel pipeline tasks.

A pair goes to a shard by a stable hash of its *item* (``shard_of``), so all of an item's
pairs share a shard: the judge computes the item's prompt prefix once, the assistant
tokenizes its text once. A shard step writes one JSONL file a shard plus a manifest
(``write_shards``) and returns the shard indices the pipeline's ``dsl.ParallelFor``
iterates; each shard task reads its own file (``read_shard``); the merge step collects the
shard tasks' outputs (``dsl.Collected``) and checks that every pair was handled exactly once
(``merge_exactly_once``), and names the shards that took far longer than the others
(``stragglers``). The hash is SHA-1 of the item id, so a shard's content does not depend on
the Python process, the order of the input or the machine.
"""

from __future__ import annotations

import hashlib
import json
import statistics
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from components.contracts import read_jsonl, write_jsonl_atomic

T = TypeVar("T")

SHARD_FILE = "shard-{:03d}.jsonl"
SHARDS_MANIFEST = "shards.json"
MAX_SHARDS = 1024
STRAGGLER_FACTOR = 1.5     # a shard slower than this × the median shard is a straggler
STRAGGLER_MIN_S = 5.0      # ... and slower than the median by at least this many seconds


class ShardError(ValueError):
    """The shards do not add up: a pair missing, judged twice, or not asked for."""


def shard_of(item_id: str, num_shards: int) -> int:
    """The shard of ``item_id`` among ``num_shards``: stable across processes and machines."""
    _check_count(num_shards)
    digest = hashlib.sha1(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % num_shards


def split_by_item(rows: Iterable[T], num_shards: int) -> list[list[T]]:
    """``rows`` (anything with an ``item_id``) into ``num_shards`` lists, input order kept."""
    shards: list[list[T]] = [[] for _ in range(_check_count(num_shards))]
    for row in rows:
        shards[shard_of(row.item_id, num_shards)].append(row)
    return shards


def write_shards(directory: Path | str, rows: Sequence[Any], num_shards: int,
                 **manifest: Any) -> list[int]:
    """One JSONL file a shard under ``directory`` (dataclass rows) and ``shards.json``
    (counts and ``manifest``'s extra fields). Returns the shard indices, for ParallelFor."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shards = split_by_item(rows, num_shards)
    for index, shard in enumerate(shards):
        write_jsonl_atomic(directory / SHARD_FILE.format(index), (asdict(r) for r in shard))
    counts = [len(s) for s in shards]
    (directory / SHARDS_MANIFEST).write_text(json.dumps(
        {"num_shards": num_shards, "pairs": sum(counts), "pairs_per_shard": counts,
         "items_per_shard": [len({r.item_id for r in s}) for s in shards],
         "hash": "sha1(item_id) mod num_shards", **manifest}, indent=1))
    return list(range(num_shards))


def read_manifest(directory: Path | str) -> dict:
    path = Path(directory) / SHARDS_MANIFEST
    if not path.is_file():
        raise ShardError(f"{directory}: no {SHARDS_MANIFEST}: not the output of a shard step")
    return json.loads(path.read_text())


def read_shard(directory: Path | str, shard: int, parse: Callable[[dict], T]) -> list[T]:
    """Shard ``shard``'s rows, checked against the manifest's count."""
    manifest = read_manifest(directory)
    if not 0 <= shard < manifest["num_shards"]:
        raise ShardError(f"shard {shard} is not among the {manifest['num_shards']} shards")
    rows = read_jsonl(Path(directory) / SHARD_FILE.format(shard), parse)
    if len(rows) != manifest["pairs_per_shard"][shard]:
        raise ShardError(f"shard {shard} holds {len(rows)} rows; the manifest says "
                         f"{manifest['pairs_per_shard'][shard]}")
    return rows


def merge_exactly_once(expected: Iterable[Hashable], parts: Sequence[Sequence[T]],
                       key: Callable[[T], Hashable]) -> tuple[list[T], dict]:
    """The rows of ``parts`` (one list a shard), each ``expected`` key exactly once.

    A key repeated within one part is de-duplicated (first kept, counted); a key in two
    parts, a key not expected, or an expected key in no part raises ShardError naming a few.
    Returns (rows in part order, a report)."""
    expected = set(expected)
    owner: dict[Hashable, int] = {}
    rows: list[T] = []
    repeated = 0
    twice: list[Hashable] = []
    for index, part in enumerate(parts):
        for row in part:
            k = key(row)
            if k in owner:
                if owner[k] == index:
                    repeated += 1
                else:
                    twice.append(k)
                continue
            owner[k] = index
            rows.append(row)
    unexpected = [k for k in owner if k not in expected]
    missing = [k for k in expected if k not in owner]
    problems = [f"{len(v)} {what}, e.g. {sorted(map(str, v))[:3]}"
                for what, v in (("pairs in two shards", twice), ("pairs no shard was asked for",
                                unexpected), ("pairs no shard returned", missing)) if v]
    if problems:
        raise ShardError("shards do not add up: " + "; ".join(problems))
    return rows, {"shards": len(parts), "pairs": len(rows),
                  "pairs_per_shard": [len(p) for p in parts], "duplicates_dropped": repeated}


def stragglers(seconds: Sequence[float], factor: float = STRAGGLER_FACTOR,
               min_excess_s: float = STRAGGLER_MIN_S) -> list[int]:
    """Indices of shards slower than ``factor`` × the median shard and by ``min_excess_s``."""
    if len(seconds) < 2:
        return []
    median = statistics.median(seconds)
    return [i for i, s in enumerate(seconds)
            if s > factor * median and s - median >= min_excess_s]


def _check_count(num_shards: int) -> int:
    if not isinstance(num_shards, int) or not 1 <= num_shards <= MAX_SHARDS:
        raise ShardError(f"num_shards must be an integer in [1, {MAX_SHARDS}], got "
                         f"{num_shards!r}")
    return num_shards
