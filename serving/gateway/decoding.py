"""Request decoding that can neither block the event loop nor answer UNKNOWN.

grpc.aio decodes each request on the event loop with the method's deserializer; when that
raises, grpc answers UNKNOWN and logs a traceback. So:

- ``decode_batch`` walks the top level of a BatchRecommend message on the wire and refuses it
  after ``max_items + 1`` items, before protobuf builds a Python object for each of them (a 2 MB
  message can hold a million empty items).
- :class:`SafeDecoding`, a server interceptor, wraps every method's deserializer (recommender,
  health, reflection): a message that does not decode becomes :class:`Undecodable`, and the
  method answers INVALID_ARGUMENT with the reason, logged as one rate-limited line.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable

import grpc
from google.protobuf.message import DecodeError

from serving.gateway.ratelimit import RateLimitedLog
from serving.proto.kpdistill.v1 import recommender_pb2 as pb

log = logging.getLogger("kpdistill.gateway")

WIRE_VARINT, WIRE_I64, WIRE_LEN, WIRE_I32 = 0, 1, 2, 5
REQUESTS_FIELD = pb.BatchRecommendRequest.DESCRIPTOR.fields_by_name["requests"].number
EXTRA_FIELDS = 16  # unknown top-level fields tolerated beside the items (forward compatibility)


class Undecodable:
    """Stands in for a request whose bytes are not a valid message of the method's type."""

    __slots__ = ("reason",)

    def __init__(self, reason: str):
        self.reason = reason


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise DecodeError("truncated or overlong varint")
        byte = raw[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7


def count_items(raw: bytes, max_items: int) -> int:
    """Items (field ``requests``) at the top level of a BatchRecommend message.

    Raises ``ValueError`` as soon as there are more than ``max_items`` of them, so the cost is
    bounded by the limit, never by the message. Groups (a wire type no proto3 message uses) and
    more than EXTRA_FIELDS unknown fields are refused too.
    """
    items = others = pos = 0
    while pos < len(raw):
        key, pos = _varint(raw, pos)
        field, wire = key >> 3, key & 7
        if wire == WIRE_VARINT:
            _, pos = _varint(raw, pos)
        elif wire == WIRE_I64:
            pos += 8
        elif wire == WIRE_I32:
            pos += 4
        elif wire == WIRE_LEN:
            size, pos = _varint(raw, pos)
            pos += size
        else:
            raise DecodeError(f"wire type {wire} (field {field}) is not accepted")
        if pos > len(raw):
            raise DecodeError("truncated message")
        if field == REQUESTS_FIELD and wire == WIRE_LEN:
            items += 1
            if items > max_items:
                raise ValueError(f"more than {max_items} items in one batch; the limit is "
                                 f"{max_items}: split the batch")
        else:
            others += 1
            if others > EXTRA_FIELDS:
                raise ValueError(f"more than {EXTRA_FIELDS} unknown top-level fields")
    return items


def batch_decoder(max_items: int) -> Callable[[bytes], pb.BatchRecommendRequest]:
    """Deserializer of BatchRecommend that counts the items before parsing them."""

    def decode(raw: bytes) -> pb.BatchRecommendRequest:
        count_items(raw, max_items)
        return pb.BatchRecommendRequest.FromString(raw)

    return decode


def _safe(deserializer: Callable[[bytes], object] | None) -> Callable[[bytes], object]:
    def decode(raw: bytes) -> object:
        try:
            return deserializer(raw) if deserializer is not None else raw
        except ValueError as err:  # our limits
            return Undecodable(str(err))
        except Exception as err:  # DecodeError, RecursionError, ...: whatever protobuf raises
            return Undecodable(f"the request is not a valid message ({type(err).__name__}: "
                               f"{str(err)[:200]})")
    return decode


class SafeDecoding(grpc.aio.ServerInterceptor):
    """Every method of the server: undecodable request -> INVALID_ARGUMENT, one log line."""

    def __init__(self, log_every_s: float = 10.0):
        self._handlers: dict[str, grpc.RpcMethodHandler] = {}
        self._log = RateLimitedLog(log, log_every_s)

    async def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        if method in self._handlers:
            return self._handlers[method]
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED
            return None
        wrapped = self._wrap(method, handler)
        if len(self._handlers) < 64:  # methods the server registered; never caller-chosen names
            self._handlers[method] = wrapped
        return wrapped

    async def _refuse(self, method: str, request: Undecodable, context) -> None:
        self._log.warning(f"undecodable:{method}", "%s: undecodable request: %s", method,
                          request.reason)
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.reason)

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        decode = _safe(handler.request_deserializer)
        serialize = handler.response_serializer
        if handler.unary_unary:
            inner = handler.unary_unary

            async def unary_unary(request, context):
                if isinstance(request, Undecodable):
                    await self._refuse(method, request, context)
                return await inner(request, context)
            return grpc.unary_unary_rpc_method_handler(unary_unary, decode, serialize)
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, handler.unary_stream, self._check_one), decode, serialize)
        if handler.stream_unary:
            inner_su = handler.stream_unary

            async def stream_unary(requests, context):
                return await inner_su(self._check_each(method, requests, context), context)
            return grpc.stream_unary_rpc_method_handler(stream_unary, decode, serialize)
        return grpc.stream_stream_rpc_method_handler(
            self._streaming(method, handler.stream_stream, self._check_each), decode, serialize)

    async def _check_one(self, method: str, request, context):
        if isinstance(request, Undecodable):
            await self._refuse(method, request, context)
        return request

    def _check_each(self, method: str, requests, context):
        async def checked():
            async for request in requests:
                if isinstance(request, Undecodable):
                    await self._refuse(method, request, context)
                yield request
        return checked()

    def _streaming(self, method: str, inner, check):
        """A wrapper of the same kind as ``inner``: grpc.aio drives an async generator and a
        coroutine that calls ``context.write`` differently."""
        async def prepare(arg, context):
            checked = check(method, arg, context)
            return await checked if inspect.isawaitable(checked) else checked

        if inspect.isasyncgenfunction(inner):
            async def generator(arg, context):
                async for response in inner(await prepare(arg, context), context):
                    yield response
            return generator

        async def coroutine(arg, context):
            return await inner(await prepare(arg, context), context)
        return coroutine
