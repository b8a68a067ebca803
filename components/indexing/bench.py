"""The keyphrase index at scale: a realistic universe, exact search, and index specs measured.

The universe (:func:`keyphrase_universe`) is text, embedded by the student like the real
index: the real phrases first (the ESCI and WANDS queries, then the phrases mined from the
catalogue's titles, categories and bullet points), then, only once those are exhausted,
SYNTHETIC phrases composed from them: a mined phrase with a modifier mined from the same
catalogue (one of the most listed brands or colours in front, or an audience suffix such as
"for women"). Each row is labelled ``real`` or ``synthetic``. Composed text, unlike noisy
copies of real embeddings, spreads like real phrases do, so nearest neighbours are not near-ties
and recall against exact search means something.

:func:`measure_backend` builds one collection per backend and size, then for each
:class:`IndexSpec` rebuilds only the index (and waits until the server reports every row
indexed) and sweeps its search parameters without rebuilding: single-query searches through
:meth:`KeyphraseStore.search`, as the product searches, timed, and recall@10 against
:func:`exact_top_k`. :func:`choose` picks the spec that meets the goal at the largest size.
"""

from __future__ import annotations

import logging
import math
import re
import statistics
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from pymilvus.exceptions import MilvusException

from components.contracts import is_local_uri
from components.data import Item, Keyphrase, normalize_keyphrase
from components.data.mining import mine_keyphrases
from components.indexing.config import IndexConfig
from components.indexing.store import KeyphraseRecord, KeyphraseStore

log = logging.getLogger(__name__)

REAL, SYNTHETIC = "real", "synthetic"
AUDIENCES: tuple[str, ...] = ("for women", "for men", "for kids", "for girls", "for boys",
                              "for baby")
"""Audience suffixes of composed phrases ("running shoes for women")."""
AUDIENCE_WORDS = frozenset({"women", "womens", "women's", "men", "mens", "men's", "kids",
                            "kid", "kid's", "girls", "girl", "girl's", "boys", "boy", "boy's",
                            "baby", "babies", "toddler", "toddlers", "unisex", "adult",
                            "adults", "for"})
"""A base phrase holding any of these already names an audience: no suffix is added to it."""
NOT_MODIFIERS = frozenset({"generic", "unknown", "multi", "multicolor", "multicolored",
                           "assorted", "original", "original version", "chicken", "natural"})
"""Catalogue brand / colour values that name no brand or colour a shopper would type."""
_COLOUR = re.compile(r"[a-z]+(?: [a-z]+)?")
_BRAND = re.compile(r"[a-z0-9][a-z0-9&'.+ -]*")

GOAL_RECALL = 0.95
GOAL_P99_MS = 10.0


@dataclass(frozen=True)
class Universe:
    """Keyphrase texts in order, each with its kind (``real``/``synthetic``) and source
    (``esci``, ``wands``, ``mined``; ``brand``, ``colour``, ``audience`` for composed ones)."""

    texts: list[str]
    kinds: list[str]
    sources: list[str]
    real_available: int = 0
    """How many real keyphrases existed to choose from (all of them, whatever the size)."""

    def __len__(self) -> int:
        return len(self.texts)

    @property
    def real(self) -> int:
        return sum(k == REAL for k in self.kinds)

    @property
    def synthetic(self) -> int:
        return len(self.kinds) - self.real

    def head(self, size: int) -> Universe:
        return Universe(self.texts[:size], self.kinds[:size], self.sources[:size],
                        self.real_available)

    def counts(self) -> dict:
        return {"total": len(self), "real": self.real, "synthetic": self.synthetic,
                "real_available": self.real_available,
                "by_source": dict(Counter(self.sources))}


def _top_values(values: Iterable[str], pattern: re.Pattern, limit: int,
                max_words: int) -> list[str]:
    counts = Counter(v for v in (normalize_keyphrase(x) for x in values if x)
                     if pattern.fullmatch(v) and len(v.split()) <= max_words
                     and v not in NOT_MODIFIERS)
    return [v for v, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def catalogue_modifiers(items: Mapping[str, Item], brands: int = 200,
                        colours: int = 40) -> tuple[list[str], list[str]]:
    """The ``brands`` most listed brands and ``colours`` most listed colours (normalised,
    plain words; ties by name), the modifiers of composed phrases."""
    ordered = [items[i] for i in sorted(items)]
    return (_top_values((i.brand for i in ordered), _BRAND, brands, 3),
            _top_values((i.color for i in ordered), _COLOUR, colours, 2))


def _holds(phrase_words: Sequence[str], words: Sequence[str]) -> bool:
    n = len(words)
    return any(list(phrase_words[i:i + n]) == list(words)
               for i in range(len(phrase_words) - n + 1))


def _already_holds(words: list[str], source: str, modifier: str, colour_words: set[str]) -> bool:
    """Whether a phrase of ``words`` already names what the modifier would add."""
    if source == "audience":
        return bool(AUDIENCE_WORDS.intersection(words))
    if source == "colour":
        return bool(colour_words.intersection(words))
    return _holds(words, modifier.split())


def compose_synthetic(bases: Sequence[str], brands: Sequence[str], colours: Sequence[str],
                      count: int, taken: set[str], seed: int = 0,
                      audiences: Sequence[str] = AUDIENCES) -> list[tuple[str, str]]:
    """``count`` composed phrases ``(text, source)``: a base phrase with one modifier (a brand
    or colour in front, an audience suffix after), pairs drawn in a seeded random order without
    repeats. A phrase whose normalised text is in ``taken`` (the real ones) or was drawn before
    is skipped, as is a modifier the base already holds (no "black black dress", no audience
    on "shoes for men"). ``taken`` is extended. The order depends on ``seed`` and the lists
    only, so a smaller ``count`` gives a prefix of a larger one."""
    modifiers = ([("brand", b) for b in brands] + [("colour", c) for c in colours]
                 + [("audience", a) for a in audiences])
    if count <= 0:
        return []
    if not bases or not modifiers:
        raise ValueError("composing synthetic keyphrases needs base phrases and modifiers")
    colour_words = {w for c in colours for w in c.split()}
    space = len(bases) * len(modifiers)
    out: list[tuple[str, str]] = []
    for pick in np.random.default_rng(seed).permutation(space).tolist():
        base = bases[pick // len(modifiers)]
        source, word = modifiers[pick % len(modifiers)]
        if _already_holds(base.split(), source, word, colour_words):
            continue
        text = f"{base} {word}" if source == "audience" else f"{word} {base}"
        norm = normalize_keyphrase(text)
        if norm in taken:
            continue
        taken.add(norm)
        out.append((text, source))
        if len(out) == count:
            return out
    raise ValueError(f"only {len(out)} distinct synthetic keyphrases can be composed from "
                     f"{len(bases)} phrases and {len(modifiers)} modifiers; {count} asked")


def keyphrase_universe(size: int, items: Mapping[str, Item], queries: Sequence[Keyphrase] = (),
                       seed: int = 0, min_items: int = 2, max_words: int = 4,
                       brands: int = 200, colours: int = 40) -> Universe:
    """The first ``size`` keyphrases: ``queries`` (real shopper queries, in their order), then
    the phrases mined from ``items`` (``mine_keyphrases(items, min_items, max_words)``, the
    queries' texts excluded), then composed SYNTHETIC phrases (:func:`compose_synthetic` over
    the mined phrases and the catalogue's top ``brands`` / ``colours``) up to ``size``.
    Normalised texts are distinct; deterministic for a given ``seed``."""
    texts: list[str] = []
    sources: list[str] = []
    taken: set[str] = set()
    for q in queries:
        if q.normalized not in taken:
            taken.add(q.normalized)
            texts.append(q.text)
            sources.append(q.source)
    mined = mine_keyphrases(items, exclude=taken, min_items=min_items, max_words=max_words)
    for m in mined:
        if m.normalized not in taken:
            taken.add(m.normalized)
            texts.append(m.text)
            sources.append("mined")
    kinds = [REAL] * len(texts)
    available = len(texts)
    if size <= available:
        return Universe(texts[:size], kinds[:size], sources[:size], available)
    bases = [m.text for m in mined] or list(texts)
    brand_list, colour_list = catalogue_modifiers(items, brands, colours)
    for text, source in compose_synthetic(bases, brand_list, colour_list, size - len(texts),
                                          taken, seed):
        texts.append(text)
        kinds.append(SYNTHETIC)
        sources.append(source)
    return Universe(texts, kinds, sources, available)


# --- exact search ------------------------------------------------------------------------
def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int = 10,
                chunk_rows: int = 65_536, query_chunk: int = 256) -> np.ndarray:
    """Row indices of each query's ``k`` largest inner products, best first (ties: lower index
    first), computed over chunks so memory stays at ``query_chunk x chunk_rows`` scores."""
    queries = np.asarray(queries, dtype=np.float32)
    k = min(k, len(vectors))
    out = np.empty((len(queries), k), dtype=np.int64)
    for q0 in range(0, len(queries), query_chunk):
        q = queries[q0:q0 + query_chunk]
        best_s = np.full((len(q), 0), -np.inf, dtype=np.float32)
        best_i = np.zeros((len(q), 0), dtype=np.int64)
        for v0 in range(0, len(vectors), chunk_rows):
            scores = q @ np.asarray(vectors[v0:v0 + chunk_rows], dtype=np.float32).T
            if scores.shape[1] > k:
                part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
            else:
                part = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
            cand_s = np.concatenate([best_s, np.take_along_axis(scores, part, 1)], axis=1)
            cand_i = np.concatenate([best_i, part + v0], axis=1)
            order = np.lexsort((cand_i, -cand_s), axis=1)[:, :k]
            best_s = np.take_along_axis(cand_s, order, 1)
            best_i = np.take_along_axis(cand_i, order, 1)
        out[q0:q0 + len(q)] = best_i
    return out


def recall_at_k(found: Sequence[Sequence[int]], exact: np.ndarray, k: int = 10) -> float:
    """Mean share of each query's exact top ``k`` that the index returned in its top ``k``."""
    return float(np.mean([len(set(f[:k]) & set(e[:k].tolist())) / min(k, len(e))
                          for f, e in zip(found, exact, strict=True)]))


# --- index specs and measurement ---------------------------------------------------------
@dataclass(frozen=True)
class IndexSpec:
    """One vector index build and the search parameters swept over it."""

    index_type: str
    index_params: dict
    search_params: tuple[dict, ...]


def ivf_nlist(rows: int) -> int:
    """IVF list count: ~4 sqrt(rows) as a power of two, at most 1,024 (Milvus builds one IVF
    per segment, and a 2.3 segment holds at most ~1/3 of a million 384-d rows)."""
    return int(min(1024, max(16, 2 ** round(math.log2(4 * math.sqrt(max(rows, 1)))))))


def server_grid(rows: int, ef: Sequence[int] = (64, 128, 256),
                nprobe: Sequence[int] = (16, 32, 64), nlist: int | None = None,
                hnsw: dict | None = None) -> list[IndexSpec]:
    """IVF_FLAT (``nlist``) over ``nprobe``, then HNSW (M 16, efConstruction 200) over ``ef``:
    the quick build first, so a budget or time-box cut in the long HNSW build still leaves a
    measured spec."""
    grid = []
    if nprobe:
        grid.append(IndexSpec("IVF_FLAT", {"nlist": nlist or ivf_nlist(rows)},
                              tuple({"nprobe": p} for p in nprobe)))
    if ef:
        grid.append(IndexSpec("HNSW", dict(hnsw or {"M": 16, "efConstruction": 200}),
                              tuple({"ef": e} for e in ef)))
    return grid


def lite_grid(ef: Sequence[int] = (96,)) -> list[IndexSpec]:
    """Milvus Lite: the product's index (HNSW M 16, efConstruction 200) at its ef."""
    return [IndexSpec("HNSW", {"M": 16, "efConstruction": 200}, tuple({"ef": e} for e in ef))]


@dataclass
class Budget:
    """Wall-clock seconds for the whole measurement; None: unlimited."""

    seconds: float | None = None
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        if self.seconds is None:
            return math.inf
        return self.seconds - (time.monotonic() - self.started)

    def fits(self, estimate_s: float) -> bool:
        return estimate_s <= self.left()


def percentile_ms(values: Sequence[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 2)


def _records(universe: Universe) -> list[KeyphraseRecord]:
    return [KeyphraseRecord(str(i), t[:200], normalize_keyphrase(t)[:200], s, k, "")
            for i, (t, k, s) in enumerate(zip(universe.texts, universe.kinds, universe.sources,
                                              strict=True))]


def _hit_index(hit: dict) -> int:
    return int(hit.get("keyphrase_id", hit.get("id")))


def _insert(store: KeyphraseStore, collection: str, universe: Universe, vectors: np.ndarray,
            batch: int, threads: int) -> None:
    """All rows in batches of ``batch``, ``threads`` insert calls in flight (the client turns
    one batch into a request while the server takes the previous one)."""
    records = _records(universe)
    chunks = [(records[i:i + batch], vectors[i:i + batch]) for i in range(0, len(records), batch)]
    with ThreadPoolExecutor(max(threads, 1)) as pool:
        for _ in pool.map(lambda chunk: store.insert(collection, *chunk), chunks):
            pass


def _segments(client, uri: str, collection: str) -> int | None:
    """How many segments the server searches (one index each); None on Milvus Lite."""
    if is_local_uri(uri):
        return None
    try:
        return len(client.list_loaded_segments(collection))
    except Exception as err:  # informative only
        log.info("segments of %s unknown: %s", collection, err)
        return None


def measure_backend(client, uri: str, backend: str, universe: Universe, vectors: np.ndarray,
                    queries: np.ndarray, exact: np.ndarray, grid: Sequence[IndexSpec],
                    budget: Budget | None = None, k: int = 10, insert_rate: float = 20_000.0,
                    index_timeout_s: float = 300.0, insert_batch: int = 10_000,
                    insert_threads: int = 1, warmup: int = 5,
                    alias: str = "kpbench") -> list[dict]:
    """One collection of ``vectors`` on ``client`` (at ``uri``), each spec of ``grid`` built
    on it in turn, each of its search parameters timed over ``queries`` (one row each).

    Rows are inserted in batches of ``insert_batch``, ``insert_threads`` calls at a time.
    ``insert_rate`` (rows/s) estimates whether the inserts fit the ``budget``; an index build
    is time-boxed at ``index_timeout_s`` (or what is left of the budget) and a sweep whose
    warm-up says it would not fit is skipped: such rows carry ``skipped`` (the reason)."""
    budget = budget or Budget()
    n = len(vectors)
    base = {"backend": backend, "keyphrases": n, "real": universe.real,
            "synthetic": universe.synthetic}

    def skipped(spec: IndexSpec, params: dict, reason: str) -> dict:
        return {**base, "index_type": spec.index_type, "index_params": spec.index_params,
                "search_params": params, "skipped": reason}

    estimate = n / insert_rate
    if not budget.fits(estimate):
        reason = (f"not run: inserting {n:,} rows takes ~{estimate:.0f} s, "
                  f"{max(budget.left(), 0):.0f} s of the budget left")
        return [skipped(s, p, reason) for s in grid for p in s.search_params]
    config = IndexConfig(uri=uri, alias=alias, insert_batch_size=insert_batch,
                         request_timeout_s=max(index_timeout_s, 120.0))
    store = KeyphraseStore(config, client)
    rows: list[dict] = []
    collection = store.create_version("bench", vectors.shape[1])
    try:
        t0 = time.perf_counter()
        _insert(store, collection, universe, vectors, insert_batch, insert_threads)
        client.flush(collection, timeout=config.request_timeout_s)
        insert_s = round(time.perf_counter() - t0, 2)
        log.info("%s: %d rows inserted and flushed in %.1f s", backend, n, insert_s)
        for spec in grid:
            spec_config = IndexConfig(uri=uri, alias=alias, index_type=spec.index_type,
                                      index_params=spec.index_params,
                                      request_timeout_s=config.request_timeout_s)
            box = min(index_timeout_s, budget.left())
            if box <= 0:
                rows += [skipped(spec, p, "not run: the budget was spent")
                         for p in spec.search_params]
                continue
            try:
                timing = KeyphraseStore(spec_config, client).reindex(collection, n, box)
            except (TimeoutError, MilvusException) as err:  # the next spec may still build
                log.warning("%s %s: %s", backend, spec.index_type, err)
                rows += [skipped(spec, p, f"index not built in {box:.0f} s: {err}")
                         for p in spec.search_params]
                continue
            timing["segments"] = _segments(client, uri, collection)
            for params in spec.search_params:
                searcher = KeyphraseStore(IndexConfig(
                    uri=uri, alias=alias, index_type=spec.index_type,
                    index_params=spec.index_params, search_params=params,
                    request_timeout_s=config.request_timeout_s), client)
                warm = []
                for q in queries[:warmup]:
                    t = time.perf_counter()
                    searcher.search(q[None, :], k, collection=collection)
                    warm.append(time.perf_counter() - t)
                sweep = statistics.mean(warm[1:] or warm or [0.0]) * len(queries)
                if not budget.fits(sweep):
                    rows.append(skipped(spec, params, f"not run: {len(queries)} searches take "
                                        f"~{sweep:.0f} s, {max(budget.left(), 0):.0f} s left"))
                    continue
                found, latencies = [], []
                for q in queries:
                    t = time.perf_counter()
                    hits = searcher.search(q[None, :], k, collection=collection)[0]
                    latencies.append((time.perf_counter() - t) * 1000)
                    found.append([_hit_index(h) for h in hits])
                rows.append({
                    **base, "index_type": spec.index_type, "index_params": spec.index_params,
                    "search_params": params, "insert_s": insert_s, **timing,
                    "queries": len(queries),
                    "search_p50_ms": percentile_ms(latencies, 50),
                    "search_p95_ms": percentile_ms(latencies, 95),
                    "search_p99_ms": percentile_ms(latencies, 99),
                    f"recall_at_{k}": round(recall_at_k(found, exact, k), 4)})
                log.info("%s", rows[-1])
    finally:
        client.drop_collection(collection)
    return rows


# --- the choice --------------------------------------------------------------------------
def meets_goal(row: dict, recall: float = GOAL_RECALL, p99_ms: float = GOAL_P99_MS) -> bool:
    return row["recall_at_10"] >= recall and row["search_p99_ms"] <= p99_ms


def choose(rows: Sequence[dict], backend: str | None = None, recall: float = GOAL_RECALL,
           p99_ms: float = GOAL_P99_MS) -> dict | None:
    """At the largest measured size of ``backend`` (any when None): the spec with recall@10
    >= ``recall`` and p99 <= ``p99_ms`` of the lowest p99; else the highest recall (then
    lowest p99), flagged ``meets_goal: false``. None when nothing was measured."""
    measured = [r for r in rows if not r.get("skipped")
                and (backend is None or r["backend"] == backend)]
    if not measured:
        return None
    largest = max(r["keyphrases"] for r in measured)
    at_size = [r for r in measured if r["keyphrases"] == largest]
    good = [r for r in at_size if meets_goal(r, recall, p99_ms)]
    best = (min(good, key=lambda r: (r["search_p99_ms"], -r["recall_at_10"])) if good
            else max(at_size, key=lambda r: (r["recall_at_10"], -r["search_p99_ms"])))
    return {"keyphrases": best["keyphrases"], "backend": best["backend"],
            "p99_ms": best["search_p99_ms"], "recall@10": best["recall_at_10"],
            "p50_ms": best["search_p50_ms"], "index_type": best["index_type"],
            "index_params": best["index_params"], "search_params": best["search_params"],
            "real": best["real"], "synthetic": best["synthetic"], "queries": best["queries"],
            "insert_s": best["insert_s"], "index_build_s": best["index_build_s"],
            "meets_goal": bool(good),
            "goal": f"recall@10 >= {recall} and p99 <= {p99_ms} ms"}
