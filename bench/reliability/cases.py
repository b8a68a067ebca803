"""Hostile requests for the gateway, generated with hypothesis, and an oracle for each.

A :class:`Case` is the bytes sent to one gRPC method with a deadline. The strategies cover
well-formed requests around every limit (text lengths, k, scores, re-rank sizes, batch sizes,
categories, astral characters, NaN), raw bytes, mutated valid messages (bit flips, truncation,
splices), deeply nested groups and messages, and messages larger than the gateway accepts.
:func:`expected` says, independently of the gateway's code, whether a case is the caller's
mistake: the answer to it must be INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for an oversized
message), never UNAVAILABLE, UNKNOWN or INTERNAL.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from hypothesis import strategies as st

from serving.gateway.decoding import count_items
from serving.gateway.settings import GatewaySettings
from serving.proto.kpdistill.v1 import recommender_pb2 as pb

RECOMMEND = "/kpdistill.v1.KeyphraseRecommender/Recommend"
BATCH = "/kpdistill.v1.KeyphraseRecommender/BatchRecommend"
HEALTH = "/grpc.health.v1.Health/Check"
UNKNOWN_METHOD = "/kpdistill.v1.KeyphraseRecommender/Nope"
INVALID, VALID, OVERSIZED, UNIMPLEMENTED = "invalid", "valid", "oversized", "unimplemented"


@dataclass(frozen=True)
class Case:
    kind: str
    method: str
    payload: bytes
    timeout_s: float = 10.0


WORDS = ["wine", "glass", "glasses", "red", "set", "queen", "mattress", "memory", "foam",
         "running", "shoes", "trail", "bluetooth", "earbuds", "wireless", "lamp", "steel"]
CATEGORIES = ["Home & Kitchen > Bar", "Electronics > Audio", "Clothing, Shoes & Jewelry",
              "Starships > Warp", "", " > ", "Home & Kitchen", "\u0000", "Tools & Home Improvement"]


def _texts(max_chars: int) -> st.SearchStrategy[str]:
    words = st.lists(st.sampled_from(WORDS), min_size=0, max_size=8).map(" ".join)
    near_limit = st.integers(max_chars - 2, max_chars + 2).flatmap(
        lambda n: st.sampled_from(["x", "\U0001F377", "\u00e9", " "]).map(lambda c: c * n))
    return st.one_of(words, st.text(max_size=40), near_limit,
                     st.sampled_from(["", " ", "\n\t", "\u200b", "\U0010FFFF" * 3]))


def items(settings: GatewaySettings) -> st.SearchStrategy[pb.Item]:
    short = _texts(min(settings.max_text_chars, 64))
    return st.builds(pb.Item, item_id=short, title=_texts(settings.max_title_chars),
                     category=st.one_of(st.sampled_from(CATEGORIES), short),
                     brand=st.one_of(short, _texts(settings.max_text_chars)),
                     description=st.one_of(st.just(""), short, _texts(settings.max_text_chars)))


def requests(settings: GatewaySettings) -> st.SearchStrategy[pb.RecommendRequest]:
    k = st.one_of(st.integers(0, 12), st.sampled_from([settings.max_k, settings.max_k + 1,
                                                       2**32 - 1]))
    rerank_candidates = st.one_of(st.integers(0, 30), st.sampled_from(
        [10 * settings.max_k, 10 * settings.max_k + 1, 2**32 - 1]))
    options = st.builds(pb.RecommendOptions, filter_by_category=st.booleans(),
                        rerank=st.booleans(),
                        rerank_candidates=rerank_candidates, keep_near_duplicates=st.booleans())
    score = st.one_of(st.just(0.0), st.floats(-1, 1, width=32),
                      st.sampled_from([math.nan, math.inf, -math.inf]))
    return st.builds(pb.RecommendRequest, item=items(settings), k=k, min_score=score,
                     options=options)


def _bit_flips(data: bytes, draws: list[int]) -> bytes:
    out = bytearray(data)
    for d in draws:
        if out:
            out[d % len(out)] ^= 1 << (d % 8)
    return bytes(out)


def cases(settings: GatewaySettings) -> st.SearchStrategy[Case]:
    """Every kind of hostile or ordinary request, weighted toward the structured ones."""
    one = requests(settings)
    batch = st.lists(one, min_size=0, max_size=settings.max_batch_items + 3).map(
        lambda rs: pb.BatchRecommendRequest(requests=rs))
    method_bytes = st.sampled_from([RECOMMEND, BATCH, HEALTH])
    timeout = st.sampled_from([10.0] * 6 + [0.001, 0.01, 0.05])
    raw = st.tuples(method_bytes, st.binary(max_size=2048)).map(lambda t: Case("raw", *t))
    mutated = st.tuples(one, st.lists(st.integers(0, 2**31), min_size=1, max_size=4),
                        st.integers(0, 400)).map(
        lambda t: Case("mutated", RECOMMEND,
                       _bit_flips(t[0].SerializeToString(), t[1])[: max(t[2], 1) * 8]))
    depth = st.integers(50, 20_000)
    nested = st.one_of(
        depth.map(lambda d: Case("nested", RECOMMEND, b"\x1b" * d + b"\x1c" * d)),  # groups
        depth.map(lambda d: Case("nested", BATCH, _nested_messages(d))),
    )
    single = st.tuples(one, timeout).map(
        lambda t: Case("recommend", RECOMMEND, t[0].SerializeToString(), t[1]))
    return st.one_of(  # a branch listed twice is drawn twice as often
        single, single, single,
        batch.map(lambda b: Case("batch", BATCH, b.SerializeToString())),
        batch.map(lambda b: Case("batch", BATCH, b.SerializeToString())),
        raw, raw, mutated, mutated, nested,
        st.sampled_from(EMPTY_ITEM_COUNTS).map(
            lambda n: Case("empty-items", BATCH, _empty_items(n))),
        st.just(Case("oversized", RECOMMEND, _oversized(settings.max_request_bytes))),
        st.just(Case("unknown-method", UNKNOWN_METHOD, b"")),
    )


EMPTY_ITEM_COUNTS = (65, 1000, 100_000, 1_300_000, 2_100_000)
"""BatchRecommend messages of only empty items (2 bytes each): 1.3 million fit in 2.6 MB."""


@functools.cache
def _empty_items(count: int) -> bytes:  # shared: thousands of cases, a few payloads
    return b"\x0a\x00" * count


@functools.cache
def _oversized(limit: int) -> bytes:
    return b"\x12" + _varint(limit) + b"x" * limit


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _nested_messages(depth: int) -> bytes:
    """``requests { item { ... } }`` nested by field 1 ``depth`` times (length-delimited)."""
    inner = b""
    for _ in range(min(depth, 5000)):
        inner = b"\x0a" + _varint(len(inner)) + inner
    return inner


def _client_error(r: pb.RecommendRequest, s: GatewaySettings, known: set[str] | None) -> bool:
    item = r.item
    if not item.title.strip() or len(item.title) > s.max_title_chars:
        return True
    if any(len(getattr(item, f)) > s.max_text_chars
           for f in ("category", "brand", "description", "item_id")):
        return True
    if r.k > s.max_k or not math.isfinite(r.min_score):
        return True
    if r.options.rerank_candidates > 10 * s.max_k:
        return True
    if r.options.filter_by_category:
        top = item.category.split(">")[0].strip()
        if not top or (known is not None and top not in known):
            return True
    return False


def _pairs(r: pb.RecommendRequest, s: GatewaySettings) -> int:
    if not r.options.rerank:
        return 0
    return max(r.k or s.default_k, r.options.rerank_candidates or s.rerank_candidates)


def expected(case: Case, s: GatewaySettings, known_categories: set[str] | None) -> str:
    """VALID, INVALID (the caller's mistake), OVERSIZED or UNIMPLEMENTED."""
    if len(case.payload) > s.max_request_bytes:
        return OVERSIZED
    if case.method == UNKNOWN_METHOD:
        return UNIMPLEMENTED
    try:
        if case.method == HEALTH:
            from grpc_health.v1 import health_pb2
            message = health_pb2.HealthCheckRequest.FromString(case.payload)
            return VALID if message.service in ("", "kpdistill.v1.KeyphraseRecommender") \
                else INVALID  # NOT_FOUND for other services: still the caller's mistake
        if case.method == RECOMMEND:
            requests_ = [pb.RecommendRequest.FromString(case.payload)]
        else:
            count_items(case.payload, s.max_batch_items)  # the documented wire limits
            requests_ = list(pb.BatchRecommendRequest.FromString(case.payload).requests)
    except Exception:  # noqa: BLE001 - any decode failure is the caller's mistake
        return INVALID
    if not requests_ or len(requests_) > s.max_batch_items:
        return INVALID
    if any(_client_error(r, s, known_categories) for r in requests_):
        return INVALID
    if sum(_pairs(r, s) for r in requests_) > s.max_rerank_pairs:
        return INVALID
    return VALID



ALLOWED = {
    VALID: {"OK", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"},
    INVALID: {"INVALID_ARGUMENT", "NOT_FOUND", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"},
    OVERSIZED: {"RESOURCE_EXHAUSTED", "DEADLINE_EXCEEDED"},
    UNIMPLEMENTED: {"UNIMPLEMENTED", "DEADLINE_EXCEEDED"},
}
"""Answers that keep the contract. NOT_FOUND: a health check of a service that does not exist.
RESOURCE_EXHAUSTED for a request that is wrong too: admission control sheds before it reads."""


def grade(expectation: str, code: str) -> list[str]:
    """The rules one answer breaks (empty when it keeps the contract)."""
    broken = []
    if code in ("UNKNOWN", "INTERNAL"):
        broken.append("unknown_or_internal")
    if code == "UNAVAILABLE" and expectation != VALID:
        broken.append("unavailable_for_client_errors")
    if code not in ALLOWED[expectation] and code != "UNAVAILABLE":
        broken.append("oracle_mismatch")
    return broken
