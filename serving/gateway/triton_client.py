"""Async Triton client for the models the gateway calls: ``embed_text`` (or ``encoder`` on
token ids the gateway made itself) and ``score_pairs`` (or ``cross_encoder`` on token ids).

Embedding goes one of two ways (``KPDISTILL_GATEWAY_TOKENIZE``): ``triton`` sends the texts to
the ``embed_text`` ensemble (Triton's Python-backend tokenizer, then the encoder); ``gateway``
tokenizes here (:mod:`serving.gateway.tokenizer`, the served tokenizer's files and its
``max_length`` read from Triton) and calls ``encoder`` on ``input_ids`` / ``attention_mask``
directly, one Triton hop instead of an ensemble of two. Both give the same embeddings.
Re-ranking likewise: ``triton`` sends (item text, keyphrase) strings to the ``score_pairs``
ensemble (Python-backend ``pair_tokenizer``, then ``cross_encoder``); ``gateway`` tokenizes the
pairs here with the ``pair_tokenizer`` model's files, its ``max_length`` and ``pair_order`` read
from Triton, and calls ``cross_encoder`` on the ids. Both give the same scores and estimates.
Pairs are tokenized in a worker thread (``tokenizers`` releases the GIL while it encodes: a
call's 50 pairs cost milliseconds of CPU that would otherwise stall every call on the event
loop), each request padded to its own longest pair (or PAD_TO_MULTIPLE_OF).

One gRPC channel per gateway, reused by every call (HTTP/2 multiplexes concurrent calls).
The channel's reconnect back-off is kept short so the gateway recovers within about a second
of Triton coming back.

Inputs longer than the model's ``max_batch_size`` are split into requests Triton accepts (sent
together; its dynamic batcher merges them again). Each request carries most of the time the
gateway will wait for it as Triton's own request timeout (QUEUE_SHARE), so work the gateway is
about to give up on is dropped from Triton's queue instead of delaying every later call. Triton's errors keep their meaning:
its INVALID_ARGUMENT is the caller's mistake, a full queue is overload, the rest is the backend
being unavailable (:func:`domain_error`).

Scoring also asks for the cross-encoder's ``dimensions`` output when the model it calls
(``score_pairs`` or ``cross_encoder``) declares it (a cross-encoder trained with dimension heads:
both configs list the output and name the dimensions in their ``dimensions`` parameter,
``components/export/repository.py``); a model without it is asked for ``score`` alone.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time

import numpy as np
import tritonclient.grpc.aio as triton_aio
from tritonclient.grpc import InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from components.contracts import (
    CROSS_ENCODER_MODEL,
    EMBED_INPUT,
    EMBED_MODEL,
    EMBED_OUTPUT,
    ENCODER_INPUTS,
    ENCODER_MODEL,
    PAIR_TOKENIZER_MODEL,
    SCORE_ITEM_INPUT,
    SCORE_KEYPHRASE_INPUT,
    SCORE_MODEL,
    SCORE_OUTPUT,
    TOKENIZER_MODEL,
)
from serving.gateway.domain import (
    BackendUnavailable,
    InvalidRequest,
    Overloaded,
    PairScores,
    RecommendError,
)
from serving.gateway.tokenizer import ItemTokenizer, PairTokenizer

log = logging.getLogger(__name__)

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
CLIENT_ERRORS = ("INVALID_ARGUMENT", "OUT_OF_RANGE")
OVERLOAD_MESSAGES = ("exceeds maximum queue size", "request timeout expired")
DIMENSIONS_OUTPUT = "dimensions"  # components.export.graphs.DIMENSIONS_OUTPUT (the contract)
CONFIG_TTL_S = 30.0  # how long a model's config (max batch, served outputs) is trusted
QUEUE_SHARE = 0.7
"""Share of a request's wait that it may spend in Triton's queue: Triton drops it after that
(RESOURCE_EXHAUSTED, overload) and the rest of the wait is left for running it, so a saturated
Triton answers "overloaded" rather than letting the gateway's own timeout expire (UNAVAILABLE)."""


def _text_input(name: str, texts: list[str]) -> InferInput:
    tensor = InferInput(name, [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode("utf-8")] for t in texts], dtype=np.object_))
    return tensor


def _id_inputs(tokens: dict[str, np.ndarray],
               names: tuple[str, ...] = ENCODER_INPUTS) -> list[InferInput]:
    inputs = []
    for name in names:
        array = tokens[name]
        tensor = InferInput(name, list(array.shape), "INT32" if array.dtype == np.int32 else "INT64")
        tensor.set_data_from_numpy(array)
        inputs.append(tensor)
    return inputs


def domain_error(model: str, url: str, err: InferenceServerException) -> RecommendError:
    """Triton's answer as the gateway's error: what the caller may do about it."""
    status = str(err.status() or "").rsplit(".", 1)[-1]
    message = str(err.message() or "")
    if status == "RESOURCE_EXHAUSTED" or any(m in message.lower() for m in OVERLOAD_MESSAGES):
        return Overloaded(f"triton {model} is saturated ({status}): {message}")
    if status in CLIENT_ERRORS:
        return InvalidRequest(f"triton {model} rejected the input ({status}): {message}")
    return BackendUnavailable("triton", f"{model} at {url} failed ({status or 'no status'}): "
                                        f"{message}", timed_out=status == "DEADLINE_EXCEEDED")


def served_dimensions(config: dict) -> tuple[str, ...]:
    """The dimension names a ``score_pairs`` (or ``cross_encoder``) model config (Triton's
    JSON) serves estimates for:
    empty unless it declares the ``dimensions`` output ``[dims, 3]`` and names as many."""
    outputs = {o.get("name"): o for o in config.get("output", [])}
    if DIMENSIONS_OUTPUT not in outputs:
        return ()
    names = (config.get("parameters", {}).get(DIMENSIONS_OUTPUT, {})
             .get("string_value", ""))
    names = tuple(n for n in names.split(",") if n)
    dims = [int(d) for d in outputs[DIMENSIONS_OUTPUT].get("dims", [])]
    if dims != [len(names), 3] or not names:
        log.warning("%s output %s does not match its named dimensions %s: not served",
                    DIMENSIONS_OUTPUT, dims, names)
        return ()
    return names


def _parameter(config: dict, key: str) -> str:
    return str(config.get("parameters", {}).get(key, {}).get("string_value", "") or "")


def _id_dtype(config: dict, name: str = "input_ids") -> str:
    """The numpy dtype a model config (Triton's JSON) takes its token ids in."""
    data_type = next((i.get("data_type") for i in config.get("input", [])
                      if i.get("name") == name), "TYPE_INT64")
    return "int32" if data_type == "TYPE_INT32" else "int64"


def batches(rows: int, size: int) -> list[tuple[int, int]]:
    """[start, end) slices of at most ``size`` rows covering ``rows``."""
    return [(start, min(start + size, rows)) for start in range(0, rows, size)]


class TritonModelClient:
    """``embed_texts`` and ``score_pairs`` over one reused Triton gRPC channel.

    With ``tokenizer_dir`` set the gateway tokenizes and ``embed_texts`` calls
    ``encoder_model`` on token ids; without it, ``embed_model`` on the texts. With
    ``pair_tokenizer_dir`` set ``score_pairs`` tokenizes the pairs and calls
    ``cross_encoder_model`` on token ids; without it, ``score_model`` on the strings."""

    def __init__(self, url: str, embed_model: str = EMBED_MODEL,
                 score_model: str = SCORE_MODEL, max_batch: int = 256,
                 tokenizer_dir: str | None = None, encoder_model: str = ENCODER_MODEL,
                 pair_tokenizer_dir: str | None = None,
                 cross_encoder_model: str = CROSS_ENCODER_MODEL, pad_to_multiple_of: int = 0):
        self.url = url
        self.embed_model = embed_model
        self.score_model = score_model
        self.encoder_model = encoder_model
        self.cross_encoder_model = cross_encoder_model
        self.tokenizer_dir = tokenizer_dir
        self.pair_tokenizer_dir = pair_tokenizer_dir
        self.max_batch = max_batch
        self.pad_to_multiple_of = pad_to_multiple_of
        self.not_ready_reason = ""
        self._model_configs: dict[str, tuple[float, dict]] = {}  # (when read, config)
        self._tokenizers: dict[str, ItemTokenizer | PairTokenizer] = {}  # "item", "pair"
        self._tokenizer_lock = asyncio.Lock()  # calls arriving together load one once
        self._client = triton_aio.InferenceServerClient(url, channel_args=CHANNEL_ARGS)

    @property
    def ready_model(self) -> str:
        """The model embedding calls go to."""
        return self.encoder_model if self.tokenizer_dir else self.embed_model

    @property
    def rerank_model(self) -> str:
        """The model scoring calls go to."""
        return self.cross_encoder_model if self.pair_tokenizer_dir else self.score_model

    async def embed_texts(self, texts: list[str], timeout_s: float) -> np.ndarray:
        """L2-normalised embeddings, one row per text."""
        if not texts:
            raise InvalidRequest("no texts to embed")
        if self.tokenizer_dir:
            tokenizer = await self.item_tokenizer(min(timeout_s, 1.0))
            parts = await self._infer_split(self.encoder_model, len(texts), timeout_s,
                                            EMBED_OUTPUT,
                                            lambda a, b: _id_inputs(tokenizer.encode(texts[a:b])))
        else:
            parts = await self._infer_split(self.embed_model, len(texts), timeout_s,
                                            EMBED_OUTPUT,
                                            lambda a, b: [_text_input(EMBED_INPUT, texts[a:b])])
        vectors = np.concatenate([np.asarray(p, dtype=np.float32).reshape(b - a, -1)
                                  for (a, b), p in parts])
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    async def score_pairs(self, keyphrases: list[str], item_texts: list[str],
                          timeout_s: float) -> PairScores:
        """The cross-encoder's P(relevant) for each (keyphrase, item text) pair, and its
        dimension estimates where the served model has dimension heads."""
        if len(item_texts) != len(keyphrases):
            raise InvalidRequest(f"{len(keyphrases)} keyphrases but {len(item_texts)} item texts")
        model = self.rerank_model
        tokenizer = (await self.pair_tokenizer(min(timeout_s, 1.0))
                     if self.pair_tokenizer_dir else None)
        dimensions = served_dimensions(await self.model_config(model, min(timeout_s, 1.0))
                                       or {})
        if not item_texts:
            return PairScores(np.zeros(0, dtype=np.float32), dimensions,
                              np.zeros((0, len(dimensions), 3), dtype=np.float32)
                              if dimensions else None)
        outputs = (SCORE_OUTPUT, DIMENSIONS_OUTPUT) if dimensions else (SCORE_OUTPUT,)
        if tokenizer is not None:  # each request padded to its own longest pair (or bucket)
            async def inputs(a: int, b: int) -> list[InferInput]:
                # in a worker thread: the Rust tokenizer releases the GIL (~0.1 ms a pair of
                # CPU), so the event loop keeps serving and concurrent calls tokenize in parallel
                tokens = await asyncio.to_thread(tokenizer.encode, keyphrases[a:b],
                                                 item_texts[a:b])
                return _id_inputs(tokens, tokenizer.inputs)
        else:
            def inputs(a: int, b: int) -> list[InferInput]:
                return [_text_input(SCORE_ITEM_INPUT, item_texts[a:b]),
                        _text_input(SCORE_KEYPHRASE_INPUT, keyphrases[a:b])]
        parts = await self._infer_split(model, len(item_texts), timeout_s, outputs, inputs)
        scores = np.concatenate([np.asarray(p[SCORE_OUTPUT], dtype=np.float32).reshape(-1)
                                 for _, p in parts])
        if not dimensions:
            return PairScores(scores)
        estimates = np.concatenate([
            np.asarray(p[DIMENSIONS_OUTPUT], dtype=np.float32).reshape(b - a, len(dimensions), 3)
            for (a, b), p in parts])
        return PairScores(scores, dimensions, estimates)

    async def is_ready(self, timeout_s: float = 1.0) -> bool:
        """The embedding model is ready (and, when the gateway tokenizes, its tokenizers are
        loaded: the pair tokenizer too, so a missing or unreadable one is reported at start-up
        rather than at the first re-rank); else ``not_ready_reason`` says why, and model
        configs are read again later (a restarted Triton may serve another version)."""
        try:
            ready = bool(await self._client.is_model_ready(self.ready_model,
                                                           client_timeout=timeout_s))
            if ready and self.tokenizer_dir:
                await self.item_tokenizer(timeout_s)
            if ready and self.pair_tokenizer_dir:
                await self.pair_tokenizer(timeout_s)
        except InferenceServerException as err:
            ready, self.not_ready_reason = False, str(err.message() or err)
        except BackendUnavailable as err:
            ready, self.not_ready_reason = False, str(err)
        else:
            self.not_ready_reason = "" if ready else f"model {self.ready_model} is not ready"
        if not ready:
            self._model_configs.clear()
            self._tokenizers.clear()
        return ready

    async def item_tokenizer(self, timeout_s: float = 1.0) -> ItemTokenizer:
        """The gateway's tokenizer, cut at the served tokenizer's ``max_length`` and giving
        the encoder's id type (both read from Triton once)."""
        return await self._tokenizer("item", self._load_item_tokenizer, timeout_s)

    async def pair_tokenizer(self, timeout_s: float = 1.0) -> PairTokenizer:
        """The gateway's pair tokenizer: the served ``pair_tokenizer``'s ``max_length`` and
        ``pair_order``, giving the inputs and id type ``cross_encoder`` takes (read from Triton
        once)."""
        return await self._tokenizer("pair", self._load_pair_tokenizer, timeout_s)

    async def _tokenizer(self, kind: str, load, timeout_s: float):
        async with self._tokenizer_lock:
            tokenizer = self._tokenizers.get(kind)
            if tokenizer is None:
                tokenizer = self._tokenizers[kind] = await load(timeout_s)
        return tokenizer

    async def _configs(self, timeout_s: float, *models: str) -> list[dict]:
        configs = [await self.model_config(model, timeout_s) for model in models]
        if any(config is None for config in configs):
            raise BackendUnavailable("triton", f"cannot read the configs of "
                                     f"{' and '.join(models)} at {self.url}")
        return configs

    async def _load_item_tokenizer(self, timeout_s: float) -> ItemTokenizer:
        served, encoder = await self._configs(timeout_s, TOKENIZER_MODEL, self.encoder_model)
        try:
            return ItemTokenizer(self.tokenizer_dir, int(_parameter(served, "max_length") or 0),
                                 _id_dtype(encoder, ENCODER_INPUTS[0]),
                                 pad_to_multiple_of=self.pad_to_multiple_of)
        except (OSError, ValueError) as err:
            raise BackendUnavailable("tokenizer", str(err)) from err

    async def _load_pair_tokenizer(self, timeout_s: float) -> PairTokenizer:
        served, scorer = await self._configs(timeout_s, PAIR_TOKENIZER_MODEL,
                                             self.cross_encoder_model)
        inputs = tuple(i.get("name") for i in scorer.get("input", []))
        try:
            return PairTokenizer(self.pair_tokenizer_dir,
                                 int(_parameter(served, "max_length") or 0), _id_dtype(scorer),
                                 _parameter(served, "pair_order") or "keyphrase_first", inputs,
                                 pad_to_multiple_of=self.pad_to_multiple_of)
        except (OSError, ValueError) as err:
            raise BackendUnavailable("pair tokenizer", str(err)) from err

    async def model_config(self, model: str, timeout_s: float = 1.0) -> dict | None:
        """The model's config (Triton's JSON), cached for ``CONFIG_TTL_S`` (a repository swapped
        under a running gateway, say to a cross-encoder with dimension heads, is seen within
        that); the last one known while Triton does not answer, None before any answer."""
        cached = self._model_configs.get(model)
        if cached is None or time.monotonic() - cached[0] > CONFIG_TTL_S:
            try:
                config = await self._client.get_model_config(model, as_json=True,
                                                             client_timeout=timeout_s)
            except InferenceServerException:
                return cached[1] if cached else None
            cached = self._model_configs[model] = (time.monotonic(), config.get("config", {}))
        return cached[1]

    async def batch_size(self, model: str, timeout_s: float = 1.0) -> int:
        """Rows per request: the setting, lowered to the model's ``max_batch_size``."""
        config = await self.model_config(model, timeout_s)
        model_max = int((config or {}).get("max_batch_size", 0) or 0)
        return min(self.max_batch, model_max) if model_max > 0 else self.max_batch

    async def _infer_split(self, model: str, rows: int, timeout_s: float,
                           output: str | tuple[str, ...], inputs):
        """``inputs(a, b)``: the tensors of rows [a, b), or an awaitable of them."""
        size = await self.batch_size(model, min(timeout_s, 1.0))
        spans = batches(rows, size)

        async def one(a: int, b: int):
            made = inputs(a, b)
            return await self._infer(model, await made if inspect.isawaitable(made) else made,
                                     output, timeout_s)
        results = await asyncio.gather(*(one(a, b) for a, b in spans))
        return list(zip(spans, results, strict=True))

    async def _infer(self, model: str, inputs: list[InferInput], output: str | tuple[str, ...],
                     timeout_s: float) -> np.ndarray | dict[str, np.ndarray]:
        """One request; the array of ``output``, or ``{name: array}`` for a tuple of names."""
        timeout_s = max(timeout_s, 0.001)
        names = (output,) if isinstance(output, str) else output
        try:
            result = await self._client.infer(model, inputs,
                                              outputs=[InferRequestedOutput(o) for o in names],
                                              timeout=max(int(timeout_s * QUEUE_SHARE * 1e6), 1),
                                              client_timeout=timeout_s)
        except InferenceServerException as err:
            raise domain_error(model, self.url, err) from err
        if isinstance(output, str):
            return result.as_numpy(output)
        return {name: result.as_numpy(name) for name in names}

    async def close(self) -> None:
        await self._client.close()
