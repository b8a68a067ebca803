"""Domain objects of the recommendation service (no transport types here)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


class RecommendError(Exception):
    """Base of the errors the service maps to a status."""


class InvalidRequest(RecommendError):
    """The request is malformed; the message says which field and why."""


class BackendUnavailable(RecommendError):
    """Triton or Milvus cannot be reached or refused the call; worth retrying later."""

    def __init__(self, backend: str, detail: str, timed_out: bool = False):
        super().__init__(f"{backend} unavailable: {detail}")
        self.backend = backend
        self.timed_out = timed_out  # no answer in time (rather than refused or unreachable)


class DeadlineExceeded(RecommendError):
    """The caller's deadline passed before the answer was ready."""


class Overloaded(RecommendError):
    """The gateway or Triton is saturated and refused the call at once; retry with back-off."""


@dataclass(frozen=True)
class ItemInput:
    title: str
    category: str = ""
    brand: str = ""
    description: str = ""
    item_id: str = ""


@dataclass(frozen=True)
class RecommendOptions:
    filter_by_category: bool = False
    rerank: bool = False
    rerank_candidates: int = 0
    keep_near_duplicates: bool = False


@dataclass(frozen=True)
class RecommendRequest:
    item: ItemInput
    k: int = 0
    min_score: float = 0.0
    options: RecommendOptions = field(default_factory=RecommendOptions)


@dataclass(frozen=True)
class DimensionEstimate:
    """One dimension head's answer for an (item, keyphrase) pair; the three sum to 1."""

    dimension: str        # "type", "brand", "size", ...
    match: float          # P(yes)
    mismatch: float       # P(no)
    not_mentioned: float  # P(not mentioned)


@dataclass(frozen=True)
class PairScores:
    """What the cross-encoder says about pairs: P(relevant) per pair, and where the served model
    has dimension heads their names and ``estimates [pairs, dims, 3]`` (yes, no, not
    mentioned); ``dimensions`` is empty and ``estimates`` None for a model without heads."""

    scores: np.ndarray
    dimensions: tuple[str, ...] = ()
    estimates: np.ndarray | None = None

    def __post_init__(self):
        if self.dimensions and (self.estimates is None or self.estimates.shape
                                != (len(self.scores), len(self.dimensions), 3)):
            shape = None if self.estimates is None else self.estimates.shape
            raise ValueError(f"estimates must be [{len(self.scores)}, {len(self.dimensions)}, "
                             f"3] for dimensions {self.dimensions}, got {shape}")

    def pair_dimensions(self, row: int) -> tuple[DimensionEstimate, ...]:
        """The estimates of pair ``row`` (empty without dimension heads)."""
        if not self.dimensions:
            return ()
        return tuple(DimensionEstimate(name, float(p[0]), float(p[1]), float(p[2]))
                     for name, p in zip(self.dimensions, self.estimates[row], strict=True))


@dataclass(frozen=True)
class Candidate:
    """A keyphrase the index returned for an item."""

    keyphrase_id: str
    text: str
    normalized: str
    category: str
    source: str
    bi_encoder_score: float
    cross_encoder_score: float | None = None
    dimensions: tuple[DimensionEstimate, ...] = ()  # the cross-encoder's, when re-ranked

    @property
    def score(self) -> float:
        """The score that ranks: the cross-encoder's when present."""
        return self.bi_encoder_score if self.cross_encoder_score is None \
            else self.cross_encoder_score


@dataclass
class StageTimings:
    embed_ms: float = 0.0
    search_ms: float = 0.0
    rerank_ms: float = 0.0
    total_ms: float = 0.0


@dataclass
class Recommendation:
    item_id: str
    keyphrases: list[Candidate]
    model_version: str
    index_collection: str
    timings: StageTimings
