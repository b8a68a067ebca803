"""Triton Python-backend tokenizer: TEXT (or ITEM_TEXT + KEYPHRASE) -> token id tensors.

All requests handed to one ``execute`` call are tokenized together (one Rust call), then split
back per request. Config parameters: ``mode`` (``single`` | ``pair``), ``max_length``,
``pair_order``; the token id dtype follows the config's output dtype. The tokenizer files lie in
``tokenizer/`` beside this file. The logic lives in ``tokenization.py`` (tested without Triton).
"""

import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
# The backend's embedded interpreter ignores PYTHONPATH: add the serving environment's
# site-packages (the launcher puts them there) and this folder by hand.
for _path in [str(HERE), *os.environ.get("PYTHONPATH", "").split(os.pathsep)]:
    if _path and _path not in sys.path:
        sys.path.append(_path)

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402
from tokenization import BatchTokenizer, TokenizationError, decode_texts, split_rows  # noqa: E402


def _param(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.mode = _param(config, "mode", "single")
        self.inputs = ["TEXT"] if self.mode == "single" else ["ITEM_TEXT", "KEYPHRASE"]
        self.outputs = [o["name"] for o in config["output"]]
        id_dtype = pb_utils.triton_string_to_numpy(config["output"][0]["data_type"])
        self.tokenizer = BatchTokenizer(HERE / "tokenizer", int(_param(config, "max_length", "128")),
                                        id_dtype=np.dtype(id_dtype).name,
                                        pair_order=_param(config, "pair_order", "keyphrase_first"))

    def _read(self, request) -> list[list[str]]:
        columns = []
        for name in self.inputs:
            tensor = pb_utils.get_input_tensor_by_name(request, name)
            if tensor is None:
                raise TokenizationError(f"missing input {name}")
            columns.append(decode_texts(tensor.as_numpy()))
        if len({len(c) for c in columns}) != 1:
            raise TokenizationError("ITEM_TEXT and KEYPHRASE must have the same batch size")
        return columns

    def execute(self, requests):
        responses: list = [None] * len(requests)
        good, columns = [], [[] for _ in self.inputs]
        sizes = []
        for i, request in enumerate(requests):
            try:
                cols = self._read(request)
            except TokenizationError as err:
                responses[i] = pb_utils.InferenceResponse(error=pb_utils.TritonError(str(err)))
                continue
            good.append(i)
            sizes.append(len(cols[0]))
            for acc, col in zip(columns, cols, strict=True):
                acc.extend(col)
        if good:
            if self.mode == "single":
                batch = self.tokenizer.encode(columns[0])
            else:
                batch = self.tokenizer.encode_pairs(columns[0], columns[1])
            for i, rows in zip(good, split_rows(batch, sizes), strict=True):
                tensors = [pb_utils.Tensor(name, rows[name]) for name in self.outputs]
                responses[i] = pb_utils.InferenceResponse(output_tensors=tensors)
        return responses
