"""The recommendation service, free of any transport: validate, embed, search, re-rank, dedup.

Limits are checked before any work: item count, text lengths, re-rank pairs; then admission
(:mod:`serving.gateway.admission`) refuses a call that does not fit in the rows in flight.
Every backend call gets ``min(backend timeout for the rows it carries, time left before the
caller's deadline)``; a deadline that passes raises :class:`DeadlineExceeded`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from components.contracts import item_text, top_level_category
from serving.gateway.admission import Admission
from serving.gateway.dedupe import drop_near_duplicates
from serving.gateway.domain import (
    BackendUnavailable,
    Candidate,
    DeadlineExceeded,
    InvalidRequest,
    Overloaded,
    PairScores,
    Recommendation,
    RecommendRequest,
    StageTimings,
)
from serving.gateway.settings import GatewaySettings


class ModelClient(Protocol):
    async def embed_texts(self, texts: list[str], timeout_s: float) -> np.ndarray: ...

    async def score_pairs(self, keyphrases: list[str], item_texts: list[str],
                          timeout_s: float) -> PairScores: ...


class Searcher(Protocol):
    version: object

    async def ensure_version(self, timeout_s: float) -> object: ...

    async def search(self, vectors: np.ndarray, limit: int, categories: list[str | None],
                     timeout_s: float) -> list[list[Candidate]]: ...


DEADLINE_SLACK_S = 0.02
StageObserver = Callable[[str, float], None]


@dataclass(frozen=True)
class _Call:
    """What the backend calls of one admitted call need to know about it."""

    deadline: float
    rows: int  # admitted: items + re-rank pairs


class RecommendationService:
    def __init__(self, models: ModelClient, searcher: Searcher, settings: GatewaySettings,
                 observe_stage: StageObserver | None = None, admission: Admission | None = None):
        self.models = models
        self.searcher = searcher
        self.settings = settings
        self.observe_stage = observe_stage or (lambda stage, seconds: None)
        self.admission = admission or Admission(settings.max_inflight_rows)

    # --- validation -----------------------------------------------------------------------
    def validate(self, request: RecommendRequest, where: str = "") -> None:
        s = self.settings
        title = request.item.title.strip()
        if not title:
            raise InvalidRequest(f"{where}item.title is empty: give the item's title")
        if len(request.item.title) > s.max_title_chars:
            raise InvalidRequest(f"{where}item.title has {len(request.item.title)} characters; "
                                 f"the limit is {s.max_title_chars}")
        for name in ("category", "brand", "description", "item_id"):
            value = getattr(request.item, name)
            if len(value) > s.max_text_chars:
                raise InvalidRequest(f"{where}item.{name} has {len(value)} characters; "
                                     f"the limit is {s.max_text_chars}")
        if not 0 <= request.k <= s.max_k:
            raise InvalidRequest(f"{where}k={request.k} is out of range: use 1..{s.max_k} "
                                 f"(0 means {s.default_k})")
        if not np.isfinite(request.min_score):
            raise InvalidRequest(f"{where}min_score must be a finite number")
        if request.options.rerank_candidates > 10 * s.max_k:
            raise InvalidRequest(f"{where}options.rerank_candidates="
                                 f"{request.options.rerank_candidates} exceeds {10 * s.max_k}")
        if request.options.filter_by_category:
            self._category_filter(request, where)

    def _category_filter(self, request: RecommendRequest, where: str = "") -> str | None:
        if not request.options.filter_by_category:
            return None
        category = top_level_category(request.item.category)
        if not category:
            raise InvalidRequest(f"{where}options.filter_by_category is set but item.category "
                                 "is empty")
        known = getattr(self.searcher.version, "categories", None)
        if known is not None and category not in known:
            raise InvalidRequest(f"{where}unknown category {category!r}; the index knows: "
                                 + ", ".join(known))
        return category

    # --- the work -------------------------------------------------------------------------
    async def recommend(self, request: RecommendRequest,
                        deadline: float | None = None) -> Recommendation:
        return (await self.batch_recommend([request], deadline))[0]

    async def batch_recommend(self, requests: list[RecommendRequest],
                              deadline: float | None = None) -> list[Recommendation]:
        if not requests:
            raise InvalidRequest("requests is empty: send at least one item")
        if len(requests) > self.settings.max_batch_items:
            raise InvalidRequest(f"{len(requests)} items in one batch; the limit is "
                                 f"{self.settings.max_batch_items}")
        deadline = deadline or time.monotonic() + self.settings.default_deadline_s
        await self.searcher.ensure_version(self._budget(deadline))
        multi = len(requests) > 1
        for i, request in enumerate(requests):
            self.validate(request, f"requests[{i}]." if multi else "")
        pairs = sum(self._fetch_count(r) for r in requests if r.options.rerank)
        if pairs > self.settings.max_rerank_pairs:
            raise InvalidRequest(f"the call re-ranks {pairs} (item, keyphrase) pairs; the limit "
                                 f"is {self.settings.max_rerank_pairs}: ask for fewer "
                                 "rerank_candidates or split the batch")
        rows = len(requests) + pairs
        with self.admission.admit(rows):
            return await self._recommend(requests, _Call(deadline, rows))

    async def _recommend(self, requests: list[RecommendRequest],
                         call: _Call) -> list[Recommendation]:
        started = time.perf_counter()
        texts = [item_text(r.item, self.settings.item_fields) for r in requests]

        t0 = time.perf_counter()
        vectors = await self._within(call, self.models.embed_texts, texts)
        embed_s = self._stage("embed", t0)

        t0 = time.perf_counter()
        limit = max(self._fetch_count(r) for r in requests)
        version = self.searcher.version
        candidates = await self._within(call, self.searcher.search, vectors, limit,
                                        [self._category_filter(r) for r in requests])
        search_s = self._stage("search", t0)

        t0 = time.perf_counter()
        candidates = await self._rerank(requests, texts, candidates, call)
        rerank_s = self._stage("rerank", t0) if any(r.options.rerank for r in requests) else 0.0

        total_ms = (time.perf_counter() - started) * 1000
        timings = StageTimings(embed_s * 1000, search_s * 1000, rerank_s * 1000, total_ms)
        return [
            Recommendation(
                item_id=r.item.item_id, keyphrases=self._finish(r, found),
                model_version=getattr(version, "model_version", ""),
                index_collection=getattr(version, "collection", ""), timings=timings)
            for r, found in zip(requests, candidates, strict=True)
        ]

    def _fetch_count(self, request: RecommendRequest) -> int:
        k = request.k or self.settings.default_k
        if request.options.rerank:
            return max(k, request.options.rerank_candidates or self.settings.rerank_candidates)
        return k * self.settings.search_overfetch

    async def _rerank(self, requests, texts, candidates, call) -> list[list[Candidate]]:
        pairs = [(i, j) for i, r in enumerate(requests) if r.options.rerank
                 for j in range(min(len(candidates[i]), self._fetch_count(r)))]
        if not pairs:
            return candidates
        scored: PairScores = await self._within(call, self.models.score_pairs,
                                                [candidates[i][j].text for i, j in pairs],
                                                [texts[i] for i, _ in pairs])
        out = [list(c) for c in candidates]
        for row, ((i, j), score) in enumerate(zip(pairs, scored.scores, strict=True)):
            c = candidates[i][j]
            out[i][j] = Candidate(c.keyphrase_id, c.text, c.normalized, c.category, c.source,
                                  c.bi_encoder_score, float(score), scored.pair_dimensions(row))
        for i, r in enumerate(requests):
            if r.options.rerank:
                out[i] = sorted(out[i][:self._fetch_count(r)], key=lambda c: -c.score)
        return out

    def _finish(self, request: RecommendRequest, ranked: list[Candidate]) -> list[Candidate]:
        if not request.options.keep_near_duplicates:
            ranked = drop_near_duplicates(ranked)
        ranked = [c for c in ranked if c.score >= request.min_score]
        return ranked[:request.k or self.settings.default_k]

    # --- helpers --------------------------------------------------------------------------
    def _budget(self, deadline: float, rows: int = 1) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded("the deadline passed before the answer was ready")
        return min(self.settings.backend_timeout(rows), left)

    async def _within(self, call_info: _Call, call, *args):
        """Call a backend with the time left (its timeout grows with the rows the call carries:
        the first argument); a timeout caused by the caller's deadline is DeadlineExceeded,
        not the backend's fault."""
        deadline, rows = call_info.deadline, len(args[0])
        budget = self._budget(deadline, rows)
        try:
            return await call(*args, budget)
        except BackendUnavailable as err:
            if budget < self.settings.backend_timeout(rows) and \
                    time.monotonic() >= deadline - DEADLINE_SLACK_S:
                raise DeadlineExceeded(f"the deadline passed while waiting: {err}") from err
            others = self.admission.in_flight - call_info.rows
            if err.timed_out and others > 0:  # slow because busy with other calls: saturated
                raise Overloaded(f"{err.backend} did not answer within {budget:.1f} s while "
                                 f"{others} other rows were in flight: retry with back-off"
                                 ) from err
            raise

    def _stage(self, stage: str, t0: float) -> float:
        seconds = time.perf_counter() - t0
        self.observe_stage(stage, seconds)
        return seconds
