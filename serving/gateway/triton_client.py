"""Async Triton client for the two models the gateway calls: ``embed_text`` and ``score_pairs``.

One gRPC channel per gateway, reused by every call (HTTP/2 multiplexes concurrent calls).
The channel's reconnect back-off is kept short so the gateway recovers within about a second
of Triton coming back.
"""

from __future__ import annotations

import numpy as np
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from serving.gateway.domain import BackendUnavailable, InvalidRequest

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_ARGS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_permit_without_calls", 1),
]


def _text_input(name: str, texts: list[str]) -> InferInput:
    tensor = InferInput(name, [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode("utf-8")] for t in texts], dtype=np.object_))
    return tensor


class TritonModelClient:
    """``embed_texts`` and ``score_pairs`` over one reused Triton gRPC channel."""

    def __init__(self, url: str, embed_model: str = "embed_text",
                 score_model: str = "score_pairs"):
        self.url = url
        self.embed_model = embed_model
        self.score_model = score_model
        self._client = triton_aio.InferenceServerClient(url, channel_args=CHANNEL_ARGS)

    async def embed_texts(self, texts: list[str], timeout_s: float) -> np.ndarray:
        """L2-normalised embeddings, one row per text."""
        if not texts:
            raise InvalidRequest("no texts to embed")
        result = await self._infer(self.embed_model, [_text_input("TEXT", texts)],
                                   "embedding", timeout_s)
        vectors = np.asarray(result, dtype=np.float32).reshape(len(texts), -1)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    async def score_pairs(self, item_texts: list[str], keyphrases: list[str],
                          timeout_s: float) -> np.ndarray:
        """The cross-encoder's P(relevant) for each (item text, keyphrase) pair."""
        if len(item_texts) != len(keyphrases):
            raise InvalidRequest(f"{len(item_texts)} item texts but {len(keyphrases)} keyphrases")
        if not item_texts:
            return np.zeros(0, dtype=np.float32)
        inputs = [_text_input("ITEM_TEXT", item_texts), _text_input("KEYPHRASE", keyphrases)]
        result = await self._infer(self.score_model, inputs, "score", timeout_s)
        return np.asarray(result, dtype=np.float32).reshape(-1)

    async def is_ready(self, timeout_s: float = 1.0) -> bool:
        try:
            return bool(await self._client.is_model_ready(self.embed_model,
                                                          client_timeout=timeout_s))
        except InferenceServerException:
            return False

    async def _infer(self, model: str, inputs: list[InferInput], output: str,
                     timeout_s: float) -> np.ndarray:
        try:
            result = await self._client.infer(model, inputs,
                                              outputs=[InferRequestedOutput(output)],
                                              client_timeout=max(timeout_s, 0.001))
        except InferenceServerException as err:
            raise BackendUnavailable(
                "triton", f"{model} at {self.url} failed ({err.status()}): {err.message()}"
            ) from err
        return result.as_numpy(output)

    async def close(self) -> None:
        await self._client.close()
