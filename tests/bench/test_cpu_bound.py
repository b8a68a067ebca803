"""The CPU-bound bench's plumbing: what it reads from a real repository, the variants it derives,
the direct path it times, and how it writes its results beside the load test's (no timings are
checked: they belong to the bench)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from bench.serving import cpu_bound
from bench.serving.loadtest import write_markdown


@pytest.fixture(scope="module")
def repository(model_repository):
    """The session's exported test repository (tests/conftest.py)."""
    return model_repository


def test_the_served_encoder_is_read_from_the_repository(repository):
    enc = cpu_bound.repository_encoder(repository)
    # the test repository: the export defaults (2 instances x 1 thread) with an fp32 student
    assert enc["max_length"] == 64 and enc["instances"] == 2 and enc["intra_op_threads"] == 1
    assert enc["onnx"].is_file() and (enc["tokenizer_dir"] / "tokenizer.json").is_file()
    assert enc["precision"] == "fp32"
    assert cpu_bound.server_threads(enc) == min(2, os.cpu_count() or 1)


def test_a_variant_changes_cap_instances_threads_and_weights_only(repository, tmp_path):
    fake_onnx = repository / "encoder" / "1" / "model.onnx"
    variant = cpu_bound.variant_repository(repository, tmp_path / "v", fake_onnx, "int8", 48,
                                           instances=2, threads=1)
    enc = cpu_bound.repository_encoder(variant)
    assert (enc["max_length"], enc["instances"], enc["intra_op_threads"], enc["precision"]) == \
        (48, 2, 1, "int8")
    assert cpu_bound.server_threads({"instances": 8, "intra_op_threads": 1}) <= \
        (os.cpu_count() or 1)
    assert (variant / "embed_text" / "config.pbtxt").read_text() == \
        (repository / "embed_text" / "config.pbtxt").read_text()


def test_the_direct_path_embeds_like_the_served_encoder(repository):
    enc = cpu_bound.repository_encoder(repository)
    direct = cpu_bound.DirectEncoder(enc["tokenizer_dir"], enc["onnx"], enc["max_length"], 1)
    texts = ["red wine glasses | Libbey | Home & Kitchen", "trail running shoes", "a"]
    vectors = direct.encode(texts, batch=2)
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    one_by_one = np.concatenate([direct.encode([t]) for t in texts])
    np.testing.assert_allclose(vectors, one_by_one, atol=1e-4)  # padding changes nothing
    assert cpu_bound.direct_rate(direct, texts, 2, seconds=0.2) > 0


def _cpu(ratio: float) -> dict:
    row = {"concurrency": 2, "qps": 10.0, "p50_ms": 1.0, "p99_ms": 2.0, "errors": 0,
           "stage_mean_ms": {"embed": 1.0, "search": 0.1, "rerank": 0.0},
           "cpu_ms_per_call": {"gateway": 1.0, "triton": 9.0}, "load_average": "1 / 1 / 1"}
    direct = {"titles_per_s_by_batch": {"1": 12.5}, "titles_per_s": 12.5, "processes": 2,
              "threads_per_process": 1, "cpu_ms_per_title_by_batch": {"1": 9.0},
              "load_average": "1 / 1 / 1"}
    default = {"encoder": {"precision": "int8", "max_length": 128, "instances": 1,
                           "intra_op_threads": 0, "threads": 2}, "search_backend": "auto",
               "direct_before": direct, "direct_after": direct, "direct_titles_per_s": 12.5,
               "best_qps": 10.0, "best_concurrency": 2, "ratio_to_direct": ratio,
               "sweep": [row]}
    return {"command": "make perf-cpu", "hardware": "2 cores", "direct_titles_per_s": 12.5,
            "best_qps": 10.0, "ratio_to_direct": ratio, "default": default}


def test_results_keep_the_other_keys_and_sections(tmp_path):
    (tmp_path / "gateway.json").write_text(json.dumps({"runs": {"a": []}, "h200": {"x": 1}}))
    (tmp_path / "gateway.md").write_text("# Gateway load test\n\nold tables\n")
    cpu_bound.write_results(_cpu(0.8), tmp_path)
    cpu_bound.write_results(_cpu(0.9), tmp_path)  # a second run replaces its own section only
    result = json.loads((tmp_path / "gateway.json").read_text())
    assert result["runs"] == {"a": []} and result["h200"] == {"x": 1}
    assert result["cpu"]["ratio_to_direct"] == 0.9 and result["cpu"]["command"]
    md = (tmp_path / "gateway.md").read_text()
    assert md.count(cpu_bound.CPU_START) == 1 and "ratio **0.9**" in md and "old tables" in md
    (tmp_path / "gateway.md").write_text(md + "\nWhat was chosen and why.\n")
    cpu_bound.write_results(_cpu(0.9), tmp_path)
    # the load test rewrites its own tables and keeps the CPU section
    write_markdown({"command": "c", "machine": "m", "index_keyphrases": 1, "items": 1,
                    "duration_s": 1, "runs": {}, "index_scale": []}, tmp_path / "gateway.md")
    md = (tmp_path / "gateway.md").read_text()
    assert "old tables" not in md and "ratio **0.9**" in md and md.count(cpu_bound.CPU_END) == 1
    assert "What was chosen and why." in md  # notes after the section stay with it


def test_the_before_repository_only_drops_the_length_grouping(repository, tmp_path):
    before = cpu_bound.merged_batches_repository(repository, tmp_path / "before")
    assert cpu_bound.repository_encoder(repository)["max_padding_share"] == "0.1"
    assert cpu_bound.repository_encoder(before)["max_padding_share"] is None
    assert (before / "tokenizer" / "config.pbtxt").read_text() == \
        (repository / "tokenizer" / "config.pbtxt").read_text()


def test_path_tables_and_the_levers_own_command(tmp_path):
    quality = [{"precision": "fp32", "max_length": 128, "ndcg@10": 0.7,
                "ndcg@10_both_sides": 0.7, "titles_per_s_batch1": 1.0,
                "titles_per_s_batch8": 1.0, "load_average": "1 / 1 / 1"}]
    levers_run = {**_cpu(0.7), "command": "make perf-cpu --levers",
                  "levers": {"quality": quality, "gateway": {}}}
    cpu_bound.write_results(levers_run, tmp_path)
    cpu = _cpu(0.8)
    cpu["tokenize_paths"] = {"gateway": cpu["default"], "triton": cpu["default"]}
    mean = {"qps": 9.0, "gateway_cpu_ms_per_call": 1.0, "triton_cpu_ms_per_call": 2.0,
            "stack_cpu_ms_per_call": 3.0}
    cpu["tokenize_ab"] = {"concurrency": 8, "seconds_per_burst": 5.0, "rounds": 2, "paths": {
        p: {"mean": mean, "bursts": [{"load_average": "1.5 / 1 / 1"}]}
        for p in ("gateway", "triton")}}
    cpu_bound.write_results(cpu, tmp_path)
    md = (tmp_path / "gateway.md").read_text()
    assert "### The embedding paths" in md and "| triton | 12.5 | 10.0 | 2 | 0.8 |" in md
    assert "| gateway | 9.0 | 1.0 | 2.0 | 3.0 | 1.5 |" in md
    assert "Measured by `make perf-cpu --levers` (an earlier run" in md
    assert json.loads((tmp_path / "gateway.json").read_text())["cpu"]["levers_command"] == \
        "make perf-cpu --levers"
