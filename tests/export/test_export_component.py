"""The KFP contracts compile, with their artifacts and the TensorRT variant's GPU request."""

import yaml
from kfp import compiler, dsl
from kfp.dsl import Model

from components.export.component import configure_tensorrt_task, export_model, export_tensorrt


@dsl.pipeline(name="export-check")
def _pipeline(student_uri: str = "", cross_encoder_uri: str = ""):
    student = dsl.importer(artifact_uri="gs://bucket/student", artifact_class=Model)
    cross = dsl.importer(artifact_uri="gs://bucket/cross", artifact_class=Model)
    export_model(student=student.output, cross_encoder=cross.output)
    configure_tensorrt_task(export_tensorrt(student=student.output,
                                            cross_encoder=cross.output))


def test_components_compile_with_model_artifacts_and_a_gpu_request(tmp_path):
    path = tmp_path / "p.yaml"
    compiler.Compiler().compile(_pipeline, str(path))
    spec = yaml.safe_load(path.read_text())
    components = spec["components"]
    for name in ("comp-export-model", "comp-export-tensorrt"):
        inputs = components[name]["inputDefinitions"]["artifacts"]
        outputs = components[name]["outputDefinitions"]["artifacts"]
        assert inputs["student"]["artifactType"]["schemaTitle"] == "system.Model"
        assert inputs["cross_encoder"]["artifactType"]["schemaTitle"] == "system.Model"
        assert outputs["model_repository"]["artifactType"]["schemaTitle"] == "system.Model"
    executors = spec["deploymentSpec"]["executors"]
    trt = executors["exec-export-tensorrt"]["container"]
    assert trt["resources"]["accelerator"]["resourceCount"] == "1"
    assert "accelerator" not in executors["exec-export-model"]["container"].get("resources", {})
