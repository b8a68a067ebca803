"""Triton Python-backend encoder: token id tensors -> ``embedding`` (student) or ``score``
(cross-encoder), and every further output the config declares (the cross-encoder's
``dimensions`` when it has dimension heads).

Config parameters: ``runtime`` (``onnx``: ONNX Runtime on ``model.onnx``; ``torch``: the traced
TorchScript ``model.pt``, fp16 on CUDA), ``device`` (``cpu`` | ``cuda``), ``intra_op_threads``,
``max_padding_share`` (onnx: run a batch in groups of similar length, ``encoding.length_groups``),
``cuda_graphs`` (torch on CUDA: replay each batch-shape bucket from a captured CUDA graph).
All requests of a batch run in one forward pass (``encoding.py``, tested without Triton).
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

import triton_python_backend_utils as pb_utils  # noqa: E402
from encoding import OnnxRunner, TorchRunner, merge_requests, split_output  # noqa: E402


def _param(config: dict, key: str, default: str) -> str:
    return config.get("parameters", {}).get(key, {}).get("string_value", default)


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.inputs = [i["name"] for i in config["input"]]
        self.outputs = [o["name"] for o in config["output"]]
        runtime = _param(config, "runtime", "onnx")
        if runtime == "onnx":
            share = _param(config, "max_padding_share", "")
            self.runner = OnnxRunner(HERE / "model.onnx",
                                     int(_param(config, "intra_op_threads", "0")),
                                     float(share) if share else None)
        elif runtime == "torch":
            device = _param(config, "device", "cuda")
            if device == "cuda" and args.get("model_instance_kind") == "GPU":
                device = f"cuda:{args['model_instance_device_id']}"
            self.runner = TorchRunner(HERE / "model.pt", self.inputs, device, cuda_graphs=(
                _param(config, "cuda_graphs", "false") == "true"))
        else:
            raise pb_utils.TritonModelException(f"unknown runtime {runtime!r}")

    def execute(self, requests):
        batches = [{name: pb_utils.get_input_tensor_by_name(r, name).as_numpy()
                    for name in self.inputs} for r in requests]
        merged, sizes = merge_requests(batches)
        results = self.runner.outputs(merged, self.outputs)
        parts = {name: split_output(results[name], sizes) for name in self.outputs}
        return [pb_utils.InferenceResponse(output_tensors=[
                    pb_utils.Tensor(name, parts[name][i]) for name in self.outputs])
                for i in range(len(sizes))]
