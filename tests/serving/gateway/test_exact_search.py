"""The gateway's exact in-process search (SEARCH_BACKEND=exact|auto) against Milvus Lite itself.

Real parts: a Milvus Lite index built by the indexing code; the hashing encoder stands in for the
model (texts sharing words are near), so every answer can be checked against Milvus' own search.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from gateway_fakes import KEYPHRASES, HashingEncoder, records

from components.indexing.builder import build_keyphrase_index
from components.indexing.config import IndexConfig
from serving.gateway.domain import BackendUnavailable, Candidate
from serving.gateway.index_client import ExactKeyphraseSearcher, ExactTable, KeyphraseSearcher
from serving.gateway.server import searcher_for
from serving.gateway.settings import GatewaySettings

QUERIES = ["red wine glasses for a party", "memory foam queen mattress", "wireless earbuds",
           "trail shoes", "glass"]
CATEGORIES = [None, "Home & Kitchen", "Electronics", "Clothing, Shoes & Jewelry"]


def run(coro):
    return asyncio.run(coro)


async def _both(config: IndexConfig, exact: KeyphraseSearcher, limit: int,
                category: str | None) -> tuple[list[list[Candidate]], list[list[Candidate]]]:
    vectors = HashingEncoder().encode(QUERIES)
    milvus = KeyphraseSearcher(config.resolved_uri, config.alias)
    try:
        await milvus.refresh()
        await exact.refresh()
        cats = [category] * len(QUERIES)
        return (await milvus.search(vectors, limit, cats, 5.0),
                await exact.search(vectors, limit, cats, 5.0))
    finally:
        await milvus.close()
        await exact.close()


@pytest.mark.parametrize("category", CATEGORIES)
def test_exact_search_gives_milvus_answers(hashed_index, category):
    exact = ExactKeyphraseSearcher(hashed_index.resolved_uri, hashed_index.alias, max_rows=100)
    from_milvus, from_exact = run(_both(hashed_index, exact, 4, category))
    assert exact.table is not None and len(exact.table) == len(KEYPHRASES)
    for m, e in zip(from_milvus, from_exact, strict=True):
        # the same scores; the same keyphrases above the last score (a tie at the cut may be
        # broken either way)
        assert [round(c.bi_encoder_score, 4) for c in m] == \
            [round(c.bi_encoder_score, 4) for c in e]
        last = round(m[-1].bi_encoder_score, 4) if m else None
        assert {c.keyphrase_id for c in m if round(c.bi_encoder_score, 4) != last} == \
            {c.keyphrase_id for c in e if round(c.bi_encoder_score, 4) != last}
        assert [c.bi_encoder_score for c in e] == sorted((c.bi_encoder_score for c in e),
                                                         reverse=True)
        assert all(c.category == category for c in e if category)
        got = {c.keyphrase_id: c for c in e}
        for c in (c for c in m if c.keyphrase_id in got):
            assert (got[c.keyphrase_id].text, got[c.keyphrase_id].source,
                    got[c.keyphrase_id].normalized) == (c.text, c.source, c.normalized)


def test_auto_searches_a_larger_collection_in_milvus(hashed_index):
    auto = ExactKeyphraseSearcher(hashed_index.resolved_uri, hashed_index.alias, max_rows=5,
                                  mode="auto")
    from_milvus, from_auto = run(_both(hashed_index, auto, 3, None))
    assert auto.table is None
    assert [[c.keyphrase_id for c in r] for r in from_auto] == \
        [[c.keyphrase_id for c in r] for r in from_milvus]


def test_exact_refuses_a_collection_larger_than_its_limit(hashed_index):
    exact = ExactKeyphraseSearcher(hashed_index.resolved_uri, hashed_index.alias, max_rows=5)

    async def go():
        try:
            await exact.refresh()
        finally:
            await exact.close()

    with pytest.raises(BackendUnavailable, match="exact search holds at most 5.*EXACT_MAX_ROWS"):
        run(go())
    assert exact.version is None and exact.table is None


def test_exact_search_follows_the_alias_to_a_new_build(tmp_path):
    config = IndexConfig(uri=str(tmp_path / "kp.db"), alias="kp_exact_switch",
                         request_timeout_s=60)
    build_keyphrase_index(records(KEYPHRASES[:6]), HashingEncoder(), config, "v1")
    exact = ExactKeyphraseSearcher(config.resolved_uri, config.alias, max_rows=100)
    vector = HashingEncoder().encode(["bluetooth earbuds"])

    async def search():
        await exact.refresh()
        return (exact.version.model_version,
                [c.keyphrase_id for c in (await exact.search(vector, 1, [None], 5.0))[0]])

    async def go():
        try:
            before = await search()
            await exact.close()  # Lite: the builder takes the file over (a server would not care)
            build_keyphrase_index(records(KEYPHRASES), HashingEncoder(), config, "v2")
            return before, await search()
        finally:
            await exact.close()

    (v1, hits1), (v2, hits2) = run(go())
    assert (v1, v2) == ("v1", "v2")
    assert hits1 != ["esci:6"] and hits2 == ["esci:6"]  # the new build holds "bluetooth earbuds"
    assert len(exact.table) == len(KEYPHRASES)


def _table(vectors, categories) -> ExactTable:
    rows = [{"keyphrase_id": f"k{i}", "embedding": v, "text": f"t{i}", "normalized": f"t{i}",
             "source": "esci", "keyphrase_class": "", "category": c}
            for i, (v, c) in enumerate(zip(vectors, categories, strict=True))]
    return ExactTable("c", rows)


def test_exact_table_ranks_breaks_ties_by_row_and_filters():
    table = _table([[1, 0], [0.6, 0.8], [1, 0], [0, 1]], ["a", "b", "b", "a"])
    top = table.search(np.array([[1.0, 0.0]]), 3, [None])[0]
    assert [c.keyphrase_id for c in top] == ["k0", "k2", "k1"]
    assert [round(c.bi_encoder_score, 3) for c in top] == [1.0, 1.0, 0.6]
    only_a = table.search(np.array([[1.0, 0.0]]), 10, ["a"])[0]
    assert [c.keyphrase_id for c in only_a] == ["k0", "k3"]  # fewer than k: all of them
    assert table.search(np.array([[1.0, 0.0]]), 5, ["unknown"]) == [[]]


def test_the_settings_choose_the_searcher():
    assert type(searcher_for(GatewaySettings(search_backend="milvus"))) is KeyphraseSearcher
    auto = searcher_for(GatewaySettings())
    assert isinstance(auto, ExactKeyphraseSearcher) and auto.mode == "auto"
    assert auto.max_rows == GatewaySettings().exact_max_rows
    with pytest.raises(ValueError, match="KPDISTILL_GATEWAY_SEARCH_BACKEND"):
        GatewaySettings(search_backend="faiss")
    with pytest.raises(ValueError, match="EXACT_MAX_ROWS must lie in 1..16384"):
        GatewaySettings(exact_max_rows=20000)
