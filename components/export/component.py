"""KFP contracts of the export step: ``export_model`` and ``export_tensorrt``.

The work is ``components.export.repository.build_model_repository``. Inputs are the trained
models as ``Model`` artifacts (a sentence-transformers student directory and a ``CrossEncoder``
directory); the output ``model_repository`` is a ``Model`` artifact holding a complete Triton
model repository (tokenizer, encoder, embed_text, pair_tokenizer, cross_encoder, score_pairs),
published only when both ONNX exports pass their parity check against torch. A cross-encoder
trained with dimension heads is served with its ``dimensions`` output too (its names in the
artifact's metadata, ``cross_encoder.dimensions``); the inputs are the same either way.
``config_path`` empty means ``components/export/config.yaml``.
"""

from kfp import dsl
from kfp.dsl import Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export_model(student: Input[Model], cross_encoder: Input[Model],
                 model_repository: Output[Model], metrics: Output[Metrics],
                 target: str = "python-onnx", matryoshka_dim: int = 0, config_path: str = ""):
    """ONNX export + parity gate + Triton model repository (CPU; Python backend + ONNX Runtime
    by default, ``onnxruntime`` for Triton's own ONNX backend)."""
    import json
    import logging
    from pathlib import Path

    from components.export.config import DEFAULT_CONFIG, ExportConfig
    from components.export.repository import build_model_repository

    logging.basicConfig(level=logging.INFO)
    overrides = {"matryoshka_dim": matryoshka_dim} if matryoshka_dim else {}
    config = ExportConfig.from_yaml(config_path or DEFAULT_CONFIG, **overrides)
    repo = build_model_repository(Path(student.path), Path(cross_encoder.path),
                                  Path(model_repository.path), target=target, config=config,
                                  overwrite=True)
    for model in ("encoder", "cross_encoder"):
        report = json.loads((repo / model / str(config.version) / "parity.json").read_text())
        model_repository.metadata[f"{model}.target"] = report["target"]
        if "precision" in report:
            model_repository.metadata[f"{model}.precision"] = report["precision"]
        for key in ("min_cosine", "max_score_diff", "embedding_dim", "max_dimension_diff"):
            if report.get(key) is not None:
                metrics.log_metric(f"{model}.{key}", report[key])
                model_repository.metadata[f"{model}.{key}"] = report[key]
        if report.get("dimensions"):  # the cross-encoder's heads, served as `dimensions`
            model_repository.metadata[f"{model}.dimensions"] = ",".join(report["dimensions"])
    model_repository.metadata.update({"version": config.version,
                                      "max_batch_size": config.max_batch_size,
                                      "max_seq_length": config.max_seq_length})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def export_tensorrt(student: Input[Model], cross_encoder: Input[Model],
                    model_repository: Output[Model], metrics: Output[Metrics],
                    fallback: bool = False, matryoshka_dim: int = 0, config_path: str = ""):
    """The same repository with FP16 TensorRT engines (``tensorrt_plan``, int32 token ids).

    Needs TensorRT and a GPU (``configure_tensorrt_task``). With ``fallback`` a node without
    them builds the ``python-onnx`` repository instead and logs why; without it the step fails.
    """
    import json
    import logging
    from pathlib import Path

    from components.export.config import DEFAULT_CONFIG, ExportConfig
    from components.export.repository import build_model_repository

    logging.basicConfig(level=logging.INFO)
    overrides = {"matryoshka_dim": matryoshka_dim} if matryoshka_dim else {}
    config = ExportConfig.from_yaml(config_path or DEFAULT_CONFIG, encoder_kind="KIND_GPU",
                                    **overrides)
    repo = build_model_repository(Path(student.path), Path(cross_encoder.path),
                                  Path(model_repository.path),
                                  target="auto" if fallback else "tensorrt", config=config,
                                  overwrite=True)
    report = json.loads((repo / "encoder" / str(config.version) / "parity.json").read_text())
    model_repository.metadata.update({"target": report["target"], "version": config.version})
    metrics.log_metric("encoder.min_cosine_onnx", report["min_cosine"])


def configure_tensorrt_task(task: dsl.PipelineTask, gpus: int = 1,
                            accelerator: str = "nvidia.com/gpu") -> dsl.PipelineTask:
    """Cluster settings of an export_tensorrt task: a GPU of the kind the engine will serve on
    (TensorRT engines are specific to the GPU model they are built on)."""
    task.set_accelerator_type(accelerator).set_accelerator_limit(gpus)
    task.set_cpu_limit("8").set_memory_limit("32G")
    return task
