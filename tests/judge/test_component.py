"""The judge's KFP components compile, carry their cluster settings, and leak no secret."""

import yaml
from kfp import compiler, dsl

from components.judge.component import (
    API_KEY_ENV,
    API_KEY_SECRET,
    configure_judge_task,
    generate_candidates,
    judge_pairs,
)

SECRET_VALUE = "sk-test-DO-NOT-LEAK-0123456789"


@dsl.component(base_image="python:3.11-slim")
def make_dataset(out: dsl.Output[dsl.Dataset]):
    open(out.path, "w").close()


@dsl.pipeline(name="judge-only")
def judge_pipeline(budget: int = 10):
    data = make_dataset()
    clicks = make_dataset()
    cands = generate_candidates(data=data.outputs["out"], clicks=clicks.outputs["out"],
                                budget=budget)
    task = judge_pairs(data=data.outputs["out"], candidates=cands.outputs["candidates"],
                       backend="openai", endpoint_url="http://judge.svc:8000/v1")
    configure_judge_task(task)


def test_compiled_yaml_has_gpu_retries_secret_ref_and_no_secret_value(tmp_path, monkeypatch):
    monkeypatch.setenv(API_KEY_ENV, SECRET_VALUE)
    path = tmp_path / "judge.yaml"
    compiler.Compiler().compile(judge_pipeline, str(path))
    text = path.read_text()
    assert SECRET_VALUE not in text
    docs = list(yaml.safe_load_all(text))
    spec, platform = docs[0], docs[1]
    executors = spec["deploymentSpec"]["executors"]
    judge_exec = next(v for k, v in executors.items() if "judge-pairs" in k)
    resources = judge_exec["container"]["resources"]
    assert resources["accelerator"]["resourceCount"] == "1"
    assert resources["accelerator"]["resourceType"] == "nvidia.com/gpu"
    task = spec["root"]["dag"]["tasks"]["judge-pairs"]
    assert task["retryPolicy"]["maxRetryCount"] == 3
    k8s = platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    secret = next(iter(k8s.values()))["secretAsEnv"][0]
    assert secret["secretName"] == API_KEY_SECRET
    assert secret["keyToEnv"][0]["envVar"] == API_KEY_ENV


def test_the_compiled_pipeline_carries_dimension_judging_off_by_default(tmp_path):
    from pipelines.kpdistill import kpdistill_pipeline

    path = tmp_path / "kpdistill.yaml"
    compiler.Compiler().compile(kpdistill_pipeline, str(path))
    spec = next(yaml.safe_load_all(path.read_text()))
    param = spec["root"]["inputDefinitions"]["parameters"]["judge_dimensions"]
    assert param["defaultValue"] is False and param["parameterType"] == "BOOLEAN"
    # judge_pairs runs once a shard, inside the ParallelFor's sub-DAG
    loop = next(c for c in spec["components"].values()
                if "judge-pairs" in c.get("dag", {}).get("tasks", {}))
    inputs = loop["dag"]["tasks"]["judge-pairs"]["inputs"]["parameters"]
    assert inputs["dimensions"]["componentInputParameter"] == "pipelinechannel--judge_dimensions"
    assert inputs["shard"]["componentInputParameter"].startswith("pipelinechannel--")
    endpoint = inputs["endpoint_url"]["componentInputParameter"]
    assert endpoint == "pipelinechannel--judge_endpoint_url"  # a service, by config
    component = spec["components"]["comp-judge-pairs"]["inputDefinitions"]["parameters"]
    assert component["dimensions"]["defaultValue"] is False
    assert component["dimension_version"]["defaultValue"] == ""
