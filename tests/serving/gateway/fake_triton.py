"""A fake Triton gRPC server (KServe v2 protocol, tritonclient's own protos): enough of
ModelReady / ModelConfig / ModelInfer to test the gateway's Triton client over a real channel.
It refuses batches larger than ``max_batch_size`` as Triton does, and can be told to answer
with any status (queue full, down, ...). ``encoder`` takes token ids (the gateway tokenized):
its embedding's first value is the row's token count + 1; ``tokenizer`` only has a config
(its ``max_length``). ``cross_encoder`` takes the token ids of pairs (``input_ids``,
``attention_mask``, ``token_type_ids``): a pair's score is 1 / (1 + its token count);
``pair_tokenizer`` only has a config (``max_length``, ``pair_order``). With ``dimensions``
``score_pairs`` and ``cross_encoder`` are a cross-encoder with dimension heads: the config
declares the ``dimensions`` output and names them, and each pair's estimates are P(yes) = its
score, P(no) = 1 - score, P(na) = 0."""

from __future__ import annotations

import struct

import grpc
import numpy as np
from tritonclient.grpc import model_config_pb2, service_pb2, service_pb2_grpc

PAIR_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _strings(raw: bytes) -> list[bytes]:
    out, pos = [], 0
    while pos < len(raw):
        (size,) = struct.unpack_from("<I", raw, pos)
        out.append(raw[pos + 4:pos + 4 + size])
        pos += 4 + size
    return out


class FakeTriton(service_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, max_batch_size: int = 256, dim: int = 4, max_length: int = 128,
                 dimensions: tuple[str, ...] = (), pair_max_length: int = 128,
                 pair_order: str = "keyphrase_first"):
        self.max_batch_size = max_batch_size
        self.dimensions = tuple(dimensions)
        self.dim = dim
        self.max_length = max_length
        self.pair_max_length = pair_max_length
        self.pair_order = pair_order
        self.token_ids: list[np.ndarray] = []  # input_ids of each encoder request
        self.pair_ids: list[dict[str, np.ndarray]] = []  # the tensors of each cross_encoder one
        self.fail: tuple[grpc.StatusCode, str] | None = None
        self.batches: list[tuple[str, int]] = []
        self.timeouts_us: list[int] = []

    async def ModelReady(self, request, context):  # noqa: N802
        return service_pb2.ModelReadyResponse(ready=self.fail is None)

    async def ModelConfig(self, request, context):  # noqa: N802
        config = model_config_pb2.ModelConfig(name=request.name,
                                              max_batch_size=self.max_batch_size)
        if request.name == "tokenizer":
            config.parameters["max_length"].string_value = str(self.max_length)
        if request.name == "encoder":
            for name in ("input_ids", "attention_mask"):
                config.input.add(name=name, data_type=model_config_pb2.TYPE_INT64, dims=[-1])
        if request.name == "pair_tokenizer":
            config.parameters["max_length"].string_value = str(self.pair_max_length)
            config.parameters["pair_order"].string_value = self.pair_order
        if request.name == "cross_encoder":
            for name in PAIR_INPUTS:
                config.input.add(name=name, data_type=model_config_pb2.TYPE_INT64, dims=[-1])
            if not self.dimensions:
                config.output.add(name="score", data_type=model_config_pb2.TYPE_FP32, dims=[1])
        if request.name in ("score_pairs", "cross_encoder") and self.dimensions:
            config.output.add(name="score", data_type=model_config_pb2.TYPE_FP32, dims=[1])
            config.output.add(name="dimensions", data_type=model_config_pb2.TYPE_FP32,
                              dims=[len(self.dimensions), 3])
            config.parameters["dimensions"].string_value = ",".join(self.dimensions)
        return service_pb2.ModelConfigResponse(config=config)

    async def ModelInfer(self, request, context):  # noqa: N802
        if self.fail is not None:
            await context.abort(*self.fail)
        rows = int(request.inputs[0].shape[0])
        self.batches.append((request.model_name, rows))
        if "timeout" in request.parameters:
            self.timeouts_us.append(request.parameters["timeout"].int64_param)
        if rows > self.max_batch_size:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                f"inference request batch-size must be <= "
                                f"{self.max_batch_size} for '{request.model_name}'")
        if request.model_name == "encoder":
            shapes = {i.name: (tuple(i.shape), i.datatype) for i in request.inputs}
            assert shapes["input_ids"] == shapes["attention_mask"]
            assert shapes["input_ids"][1] == "INT64"
            ids, mask = (np.frombuffer(raw, dtype=np.int64).reshape(shapes["input_ids"][0])
                         for raw in request.raw_input_contents)
            self.token_ids.append(ids)
            values = np.ones((rows, self.dim), dtype=np.float32)
            values[:, 0] = mask.sum(axis=1) + 1.0
            response = service_pb2.ModelInferResponse(model_name=request.model_name)
            response.outputs.add(name="embedding", datatype="FP32", shape=list(values.shape))
            response.raw_output_contents.append(values.tobytes())
            return response
        if request.model_name == "cross_encoder":
            shapes = {i.name: (tuple(i.shape), i.datatype) for i in request.inputs}
            assert [i.name for i in request.inputs] == list(PAIR_INPUTS)
            assert len(set(shapes.values())) == 1 and shapes["input_ids"][1] == "INT64"
            tensors = {i.name: np.frombuffer(raw, dtype=np.int64).reshape(tuple(i.shape))
                       for i, raw in zip(request.inputs, request.raw_input_contents, strict=True)}
            self.pair_ids.append(tensors)
            name, values = "score", (1.0 / (1.0 + tensors["attention_mask"].sum(axis=1,
                                                                                keepdims=True))
                                     ).astype(np.float32)
        else:
            texts = _strings(request.raw_input_contents[-1])
            if request.model_name == "embed_text":
                name, values = "embedding", np.array(
                    [[len(t) + 1.0] + [1.0] * (self.dim - 1) for t in texts], dtype=np.float32)
            else:
                name, values = "score", np.array([[1.0 / (1 + len(t))] for t in texts],
                                                 dtype=np.float32)
        response = service_pb2.ModelInferResponse(model_name=request.model_name)
        response.outputs.add(name=name, datatype="FP32", shape=list(values.shape))
        response.raw_output_contents.append(values.tobytes())
        if "dimensions" in [o.name for o in request.outputs]:
            if not self.dimensions:
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                    "unexpected inference output 'dimensions'")
            heads = np.zeros((rows, len(self.dimensions), 3), dtype=np.float32)
            heads[:, :, 0], heads[:, :, 1] = values, 1 - values
            response.outputs.add(name="dimensions", datatype="FP32", shape=list(heads.shape))
            response.raw_output_contents.append(heads.tobytes())
        return response


async def start_fake_triton(fake: FakeTriton) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    service_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"
