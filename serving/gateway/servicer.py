"""The gRPC servicer: proto <-> domain conversion and domain error -> status code mapping."""

from __future__ import annotations

import time

import grpc

from serving.gateway.domain import (
    BackendUnavailable,
    DeadlineExceeded,
    InvalidRequest,
    ItemInput,
    Recommendation,
    RecommendOptions,
    RecommendRequest,
)
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.service import RecommendationService
from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["KeyphraseRecommender"].full_name

ERROR_CODES: dict[type, grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    BackendUnavailable: grpc.StatusCode.UNAVAILABLE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
}


def request_from_proto(message: pb.RecommendRequest) -> RecommendRequest:
    item, options = message.item, message.options
    return RecommendRequest(
        item=ItemInput(title=item.title, category=item.category, brand=item.brand,
                       description=item.description, item_id=item.item_id),
        k=message.k, min_score=message.min_score,
        options=RecommendOptions(
            filter_by_category=options.filter_by_category, rerank=options.rerank,
            rerank_candidates=options.rerank_candidates,
            keep_near_duplicates=options.keep_near_duplicates))


def response_to_proto(rec: Recommendation) -> pb.RecommendResponse:
    out = pb.RecommendResponse(item_id=rec.item_id, model_version=rec.model_version,
                               index_collection=rec.index_collection)
    for rank, c in enumerate(rec.keyphrases, start=1):
        kp = out.keyphrases.add(rank=rank, keyphrase_id=c.keyphrase_id, text=c.text,
                                category=c.category, source=c.source,
                                bi_encoder_score=c.bi_encoder_score)
        if c.cross_encoder_score is not None:
            kp.cross_encoder_score = c.cross_encoder_score
    t = rec.timings
    out.timings.CopyFrom(pb.StageTimings(embed_ms=t.embed_ms, search_ms=t.search_ms,
                                         rerank_ms=t.rerank_ms, total_ms=t.total_ms))
    return out


class KeyphraseRecommenderServicer(pb_grpc.KeyphraseRecommenderServicer):
    def __init__(self, service: RecommendationService, metrics: GatewayMetrics):
        self.service = service
        self.metrics = metrics

    async def Recommend(self, request, context):  # noqa: N802 (gRPC method name)
        recs = await self._run("Recommend", [request_from_proto(request)], context)
        return response_to_proto(recs[0])

    async def BatchRecommend(self, request, context):  # noqa: N802
        recs = await self._run("BatchRecommend",
                               [request_from_proto(r) for r in request.requests], context)
        return pb.BatchRecommendResponse(responses=[response_to_proto(r) for r in recs])

    async def _run(self, method: str, requests: list[RecommendRequest],
                   context: grpc.aio.ServicerContext) -> list[Recommendation]:
        started = time.perf_counter()
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        try:
            recs = await self.service.batch_recommend(requests, deadline)
        except tuple(ERROR_CODES) as err:
            code = ERROR_CODES[type(err)]
            self.metrics.observe_call(method, code.name, time.perf_counter() - started, 0)
            await context.abort(code, str(err))
        except Exception as err:  # an unexpected bug: counted, reported, not hidden
            self.metrics.observe_call(method, "INTERNAL", time.perf_counter() - started, 0)
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {err!r}")
        self.metrics.observe_call(method, "OK", time.perf_counter() - started, len(requests))
        return recs
