"""The compiled pipeline YAML loads back with every step and typed artifacts."""

import yaml

from pipelines.compile import compile_pipeline


def test_compiled_pipeline_has_steps_and_typed_artifacts(tmp_path):
    path = compile_pipeline(tmp_path)
    docs = list(yaml.safe_load_all(path.read_text()))
    spec = docs[0]
    assert spec["pipelineInfo"]["name"] == "kpdistill"
    tasks = spec["root"]["dag"]["tasks"]
    for step in ("prepare-data", "simulate-click-log", "evaluate-baselines"):
        assert step in tasks, f"{step} missing from {sorted(tasks)}"
    comps = spec["components"]
    outputs = comps["comp-evaluate-baselines"]["outputDefinitions"]["artifacts"]
    assert outputs["metrics"]["artifactType"]["schemaTitle"] == "system.Metrics"
    assert outputs["report"]["artifactType"]["schemaTitle"] == "system.Markdown"
    data_out = comps["comp-prepare-data"]["outputDefinitions"]["artifacts"]["data"]
    assert data_out["artifactType"]["schemaTitle"] == "system.Dataset"
    clicks_in = comps["comp-simulate-click-log"]["inputDefinitions"]["artifacts"]["data"]
    assert clicks_in["artifactType"]["schemaTitle"] == "system.Dataset"
    # The data flows from the data step, not from a parameter.
    wiring = tasks["simulate-click-log"]["inputs"]["artifacts"]["data"]["taskOutputArtifact"]
    assert wiring == {"outputArtifactKey": "data", "producerTask": "prepare-data"}


def test_one_image_and_no_runtime_pip_install(tmp_path):
    from components.image import IMAGE

    text = compile_pipeline(tmp_path).read_text()
    executors = yaml.safe_load(text)["deploymentSpec"]["executors"]
    images = {e["container"]["image"] for e in executors.values()}
    assert images == {IMAGE}
    assert "pip install" not in text
