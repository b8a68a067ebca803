"""The gRPC servicer: proto <-> domain conversion and domain error -> status code mapping.

| what happened | status |
| --- | --- |
| the request is wrong (a field, a limit, a message that does not decode, Triton's own INVALID_ARGUMENT) | INVALID_ARGUMENT |
| the gateway or Triton is saturated (admission control, Triton's queue full) | RESOURCE_EXHAUSTED, at once |
| Triton or Milvus cannot be reached or failed | UNAVAILABLE |
| the caller's deadline passed | DEADLINE_EXCEEDED |
| a message larger than the largest valid request | RESOURCE_EXHAUSTED (by gRPC, unread) |
| a bug in the gateway | INTERNAL (and one log line) |
"""

from __future__ import annotations

import logging
import time

import grpc

from serving.gateway.decoding import batch_decoder
from serving.gateway.domain import (
    BackendUnavailable,
    DeadlineExceeded,
    InvalidRequest,
    ItemInput,
    Overloaded,
    Recommendation,
    RecommendOptions,
    RecommendRequest,
)
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.ratelimit import RateLimitedLog
from serving.gateway.service import RecommendationService
from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["KeyphraseRecommender"].full_name

ERROR_CODES: dict[type, grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    BackendUnavailable: grpc.StatusCode.UNAVAILABLE,
    DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    Overloaded: grpc.StatusCode.RESOURCE_EXHAUSTED,
}
CLIENT_SIDE = {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED}
log = logging.getLogger("kpdistill.gateway")


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
        for d in c.dimensions:
            kp.dimensions.add(dimension=d.dimension, match=d.match, mismatch=d.mismatch,
                              not_mentioned=d.not_mentioned)
    t = rec.timings
    out.timings.CopyFrom(pb.StageTimings(embed_ms=t.embed_ms, search_ms=t.search_ms,
                                         rerank_ms=t.rerank_ms, total_ms=t.total_ms))
    return out


def add_recommender_to_server(servicer: KeyphraseRecommenderServicer, server: grpc.aio.Server,
                              max_batch_items: int) -> None:
    """Register the service as the generated code does, except that BatchRecommend counts its
    items on the wire before protobuf parses them (:func:`serving.gateway.decoding.count_items`)."""
    handlers = {
        "Recommend": grpc.unary_unary_rpc_method_handler(
            servicer.Recommend, request_deserializer=pb.RecommendRequest.FromString,
            response_serializer=pb.RecommendResponse.SerializeToString),
        "BatchRecommend": grpc.unary_unary_rpc_method_handler(
            servicer.BatchRecommend, request_deserializer=batch_decoder(max_batch_items),
            response_serializer=pb.BatchRecommendResponse.SerializeToString),
    }
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME,
                                                                          handlers),))


class KeyphraseRecommenderServicer(pb_grpc.KeyphraseRecommenderServicer):
    def __init__(self, service: RecommendationService, metrics: GatewayMetrics,
                 log_every_s: float = 10.0):
        self.service = service
        self.metrics = metrics
        self._log = RateLimitedLog(log, log_every_s)

    async def Recommend(self, request, context):  # noqa: N802 (gRPC method name)
        recs = await self._run("Recommend", [request], context)
        return response_to_proto(recs[0])

    async def BatchRecommend(self, request, context):  # noqa: N802
        recs = await self._run("BatchRecommend", request.requests, context)
        return pb.BatchRecommendResponse(responses=[response_to_proto(r) for r in recs])

    async def _run(self, method: str, messages, context: grpc.aio.ServicerContext
                   ) -> list[Recommendation]:
        started = time.perf_counter()
        remaining = context.time_remaining()
        deadline = time.monotonic() + remaining if remaining is not None else None
        try:
            # converted and validated even when saturated: a wrong request is told what is wrong
            # (INVALID_ARGUMENT, final) rather than to retry (RESOURCE_EXHAUSTED); both are cheap
            requests = [request_from_proto(m) for m in messages]
            recs = await self.service.batch_recommend(requests, deadline)
        except tuple(ERROR_CODES) as err:
            await self._fail(method, ERROR_CODES[type(err)], str(err), started, context)
        except Exception as err:  # an unexpected bug: counted, reported, not hidden
            where = err.__traceback__
            while where is not None and where.tb_next is not None:
                where = where.tb_next
            origin = (f" at {where.tb_frame.f_code.co_filename}:{where.tb_lineno}"
                      if where is not None else "")
            await self._fail(method, grpc.StatusCode.INTERNAL,
                             f"internal error: {err!r}{origin}", started, context)
        self.metrics.observe_call(method, "OK", time.perf_counter() - started, len(requests))
        return recs

    async def _fail(self, method: str, code: grpc.StatusCode, message: str, started: float,
                    context: grpc.aio.ServicerContext) -> None:
        self.metrics.observe_call(method, code.name, time.perf_counter() - started, 0)
        level = logging.INFO if code in CLIENT_SIDE else logging.WARNING
        self._log.log(level, f"{method}:{code.name}", "%s %s: %s", method, code.name, message)
        await context.abort(code, message)
