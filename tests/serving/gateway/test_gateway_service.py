"""The transport-free service: fake model client (hashing encoder), real Milvus Lite index."""

import asyncio
import time

import pytest
from gateway_fakes import FakeModels

from components.contracts import item_text
from serving.gateway.domain import (
    BackendUnavailable,
    DeadlineExceeded,
    InvalidRequest,
    ItemInput,
    RecommendOptions,
    RecommendRequest,
)
from serving.gateway.index_client import KeyphraseSearcher
from serving.gateway.service import RecommendationService
from serving.gateway.settings import GatewaySettings

WINE_ITEM = ItemInput(title="Set of 4 red wine glasses", category="Home & Kitchen > Glassware",
                      brand="Libbey", item_id="i1")


def run(coro):
    return asyncio.run(coro)


async def _service_call(config, request_or_list, models=None, settings=None, deadline=None):
    searcher = KeyphraseSearcher(config.resolved_uri, config.alias)
    service = RecommendationService(models or FakeModels(), searcher,
                                    settings or GatewaySettings(max_k=20))
    try:
        if isinstance(request_or_list, list):
            return await service.batch_recommend(request_or_list, deadline)
        return await service.recommend(request_or_list, deadline)
    finally:
        await searcher.close()


def test_item_text_follows_the_item_text_contract():
    from components.data import Item

    item = ItemInput(title="Lamp\nshade", category="Home", brand="Ikea", description="d")
    assert item_text(item, ("title", "brand", "category")) == \
        Item("x", "Lamp\nshade", brand="Ikea", category="Home").text()


def test_recommend_ranks_by_cosine_drops_near_duplicates_and_reports_the_version(hashed_index):
    rec = run(_service_call(hashed_index, RecommendRequest(WINE_ITEM, k=3)))
    texts = [c.text for c in rec.keyphrases]
    assert texts[0] == "red wine glasses"
    assert "wine glass" not in texts or "wine glasses" not in texts  # one of the pair only
    scores = [c.bi_encoder_score for c in rec.keyphrases]
    assert scores == sorted(scores, reverse=True) and len(texts) == 3
    assert rec.model_version == "hashing-v1" and rec.index_collection.startswith("kp_gateway")
    assert rec.item_id == "i1" and rec.timings.total_ms >= rec.timings.search_ms > 0


def test_near_duplicates_can_be_kept_on_request(hashed_index):
    opts = RecommendOptions(keep_near_duplicates=True)
    rec = run(_service_call(hashed_index, RecommendRequest(WINE_ITEM, k=10, options=opts)))
    texts = {c.text for c in rec.keyphrases}
    assert {"wine glass", "wine glasses"} <= texts


def test_min_score_and_k_limit_the_answer(hashed_index):
    rec = run(_service_call(hashed_index, RecommendRequest(WINE_ITEM, k=10, min_score=0.5)))
    assert rec.keyphrases and all(c.bi_encoder_score >= 0.5 for c in rec.keyphrases)
    default_k = run(_service_call(hashed_index, RecommendRequest(WINE_ITEM),
                                  settings=GatewaySettings(default_k=2)))
    assert len(default_k.keyphrases) == 2


def test_rerank_orders_by_the_cross_encoder_score(hashed_index):
    models = FakeModels()
    item = ItemInput(title="stemless wine glasses set of 4", category="Home & Kitchen")
    opts = RecommendOptions(rerank=True, rerank_candidates=6)
    rec = run(_service_call(hashed_index, RecommendRequest(item, k=4, options=opts), models))
    assert len(models.score_calls) == 1 and len(models.score_calls[0][1]) == 6
    ce = [c.cross_encoder_score for c in rec.keyphrases]
    assert None not in ce and ce == sorted(ce, reverse=True)
    assert rec.keyphrases[0].text == "stemless wine glasses set" and ce[0] == 1.0
    assert rec.timings.rerank_ms > 0


def test_rerank_carries_the_cross_encoders_dimension_estimates(hashed_index):
    item = ItemInput(title="stemless wine glasses set of 4", category="Home & Kitchen")
    models = FakeModels(dimensions=("type", "brand"))
    rerank = RecommendOptions(rerank=True, rerank_candidates=6)
    rec = run(_service_call(hashed_index, RecommendRequest(item, k=4, options=rerank), models))
    for c in rec.keyphrases:
        assert [d.dimension for d in c.dimensions] == ["type", "brand"]
        assert c.dimensions[1].not_mentioned == 1.0
    by_text = {c.text: c.dimensions[0] for c in rec.keyphrases}
    assert by_text["stemless wine glasses set"].match == pytest.approx(0.9)
    plain = run(_service_call(hashed_index, RecommendRequest(item, k=4), models))
    assert all(c.dimensions == () for c in plain.keyphrases)
    no_heads = run(_service_call(hashed_index, RecommendRequest(item, k=4, options=rerank)))
    assert all(c.dimensions == () and c.cross_encoder_score is not None
               for c in no_heads.keyphrases)


def test_category_filter_keeps_only_the_items_top_level_category(hashed_index):
    item = ItemInput(title="wine glasses bluetooth speaker", category="Electronics > Speakers")
    opts = RecommendOptions(filter_by_category=True, keep_near_duplicates=True)
    rec = run(_service_call(hashed_index, RecommendRequest(item, k=10, options=opts)))
    assert rec.keyphrases and {c.category for c in rec.keyphrases} == {"Electronics"}


@pytest.mark.parametrize("request_, message", [
    (RecommendRequest(ItemInput(title="  ")), "item.title is empty"),
    (RecommendRequest(ItemInput(title="x" * 513)), "item.title has 513 characters; the limit is 512"),
    (RecommendRequest(ItemInput(title="x", brand="b" * 5000)), "item.brand has 5000 characters"),
    (RecommendRequest(ItemInput(title="x"), k=21), r"k=21 is out of range: use 1\.\.20"),
    (RecommendRequest(ItemInput(title="x"), min_score=float("nan")), "min_score must be finite"),
    (RecommendRequest(ItemInput(title="x", category="Spaceships > X"),
                      options=RecommendOptions(filter_by_category=True)),
     "unknown category 'Spaceships'; the index knows: Clothing"),
    (RecommendRequest(ItemInput(title="x"), options=RecommendOptions(filter_by_category=True)),
     "item.category is empty"),
])
def test_bad_requests_are_refused_with_a_message_that_says_what_is_wrong(
        hashed_index, request_, message):
    models = FakeModels()
    with pytest.raises(InvalidRequest, match=message.replace("must be finite",
                                                              "must be a finite number")):
        run(_service_call(hashed_index, request_, models))
    assert models.embed_calls == []  # refused before any backend work


def test_batch_embeds_all_items_in_one_call_and_names_the_bad_item(hashed_index):
    models = FakeModels()
    other = ItemInput(title="queen memory foam mattress", category="Home & Kitchen", item_id="i2")
    recs = run(_service_call(hashed_index, [RecommendRequest(WINE_ITEM, k=2),
                                            RecommendRequest(other, k=2)], models))
    assert len(models.embed_calls) == 1 and [r.item_id for r in recs] == ["i1", "i2"]
    assert "mattress" in recs[1].keyphrases[0].text
    with pytest.raises(InvalidRequest, match=r"requests\[1\]\.item\.title is empty"):
        run(_service_call(hashed_index, [RecommendRequest(WINE_ITEM),
                                         RecommendRequest(ItemInput(title=""))]))
    with pytest.raises(InvalidRequest, match="requests is empty"):
        run(_service_call(hashed_index, []))
    with pytest.raises(InvalidRequest, match="65 items in one batch; the limit is 64"):
        run(_service_call(hashed_index, [RecommendRequest(WINE_ITEM)] * 65))


def test_a_passed_deadline_and_a_down_backend_have_their_own_errors(hashed_index):
    with pytest.raises(DeadlineExceeded, match="deadline passed"):
        run(_service_call(hashed_index, RecommendRequest(WINE_ITEM),
                          deadline=time.monotonic() - 1))
    down = FakeModels()
    down.down = True
    with pytest.raises(BackendUnavailable, match="triton unavailable"):
        run(_service_call(hashed_index, RecommendRequest(WINE_ITEM), down))


def test_an_unreachable_index_is_unavailable_not_a_crash(tmp_path):
    from components.indexing.config import IndexConfig

    missing = IndexConfig(uri=str(tmp_path / "empty.db"), alias="nothing_here")
    with pytest.raises(BackendUnavailable, match="milvus unavailable: index 'nothing_here'"):
        run(_service_call(missing, RecommendRequest(WINE_ITEM)))


def test_a_backend_timeout_while_other_calls_run_is_overload(hashed_index):
    from serving.gateway.domain import Overloaded

    class TimingOut(FakeModels):
        async def embed_texts(self, texts, timeout_s):
            raise BackendUnavailable("triton", "embed_text timed out", timed_out=True)

    async def call(busy_rows: int):
        searcher = KeyphraseSearcher(hashed_index.resolved_uri, hashed_index.alias)
        service = RecommendationService(TimingOut(), searcher, GatewaySettings())
        service.admission.try_acquire(busy_rows)  # other calls in flight
        try:
            return await service.recommend(RecommendRequest(WINE_ITEM))
        finally:
            await searcher.close()

    with pytest.raises(Overloaded, match="other rows were in flight"):
        run(call(busy_rows=5))
    with pytest.raises(BackendUnavailable, match="timed out"):  # idle gateway: Triton is stuck
        run(call(busy_rows=0))
