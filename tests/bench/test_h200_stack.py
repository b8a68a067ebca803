"""The GPU-host stack bench's plumbing on the CPU: the bundle's weights, chunks and code, the
python-torch repository without ONNX, the multi-process load client, and how results merge
beside the CPU keys (no timings are checked: they belong to the bench)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from concurrent import futures

import grpc
import pytest
import torch
from safetensors.torch import load_file, save_file

from bench.serving import h200_bundle, h200_stack
from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc


def test_weights_travel_as_fp16_and_come_back_as_fp32(tmp_path):
    weights = {"w": torch.randn(4, 3), "ids": torch.arange(5)}
    save_file(weights, str(tmp_path / "model.safetensors"))
    h200_bundle.convert_weights(tmp_path, to_fp16=True)
    h200_bundle.convert_weights(tmp_path, to_fp16=True)  # idempotent: still fp16, not twice
    half = load_file(str(tmp_path / "model.safetensors"))
    assert half["w"].dtype == torch.float16 and half["ids"].dtype == torch.int64
    h200_bundle.main(["--fp32", str(tmp_path)])
    back = load_file(str(tmp_path / "model.safetensors"))
    assert back["w"].dtype == torch.float32 and not (tmp_path / h200_bundle.FP16_MARK).exists()
    torch.testing.assert_close(back["w"], weights["w"].half().float())
    assert torch.equal(back["ids"], weights["ids"])


def test_chunks_rejoin_to_the_archive_and_the_manifest_matches(tmp_path):
    blob = bytes(range(256)) * 1000  # 256 kB
    (tmp_path / "a.tar").write_bytes(blob)
    out = tmp_path / "out"
    out.mkdir()
    parts = h200_bundle.split(tmp_path / "a.tar", out, 100_000)
    assert [p.name for p in parts] == ["part-00", "part-01", "part-02"]
    assert max(p.stat().st_size for p in parts) <= 100_000
    assert b"".join(p.read_bytes() for p in parts) == blob
    manifest = (out / "MANIFEST").read_text().split("\n")
    assert manifest[1] == f"{hashlib.sha256(parts[1].read_bytes()).hexdigest()}  part-01"


def test_the_code_archive_holds_the_tracked_files(tmp_path):
    archive = h200_bundle.code_archive(tmp_path / "code.tar.gz")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
    assert {"bench/serving/h200_stack.py", "bench/serving/h200_run.sh", "Makefile"} <= names
    assert not any(n.startswith((".venv", "artifacts/")) for n in names)
    subprocess.run(["bash", "-n", "bench/serving/h200_run.sh"], check=True)


def test_the_torch_repository_is_built_without_onnx(tmp_path):
    from components.export.config import ExportConfig
    from components.export.standin import standin_cross_encoder, standin_student
    config = ExportConfig.from_yaml(target="python-torch", torch_device="cpu",
                                    max_batch_size=64, preferred_batch_sizes=(8, 64))
    repo = h200_stack.torch_repository(standin_student(), standin_cross_encoder(),
                                       tmp_path / "repo", config)
    assert sorted(p.name for p in repo.iterdir()) == sorted(
        ["tokenizer", "pair_tokenizer", "encoder", "cross_encoder", "embed_text", "score_pairs"])
    for model in ("encoder", "cross_encoder"):
        assert 'string_value: "torch"' in (repo / model / "config.pbtxt").read_text()
        assert (repo / model / "1" / "model.pt").is_file()
        assert not list((repo / model / "1").glob("*.onnx"))
    graph = torch.jit.load(str(repo / "encoder" / "1" / "model.pt"))
    ids = torch.tensor([[101, 2417, 4511, 102, 0]])
    embedding = graph(ids, (ids > 0).long())
    assert embedding.shape == (1, 384)
    from bench.serving.triton_gpu import served_runner_rows
    tokens = {"input_ids": ids.numpy(), "attention_mask": (ids > 0).long().numpy()}
    rows = served_runner_rows(repo / "encoder" / "1" / "model.pt", tokens, [4], "cpu")
    assert [r["mode"] for r in rows] == ["served runner, numpy in/out, eager"]  # no CUDA here
    assert rows[0]["seq_per_s_numpy_roundtrip"] > 0
    # the bench's gateway tokenizes item texts and re-rank pairs with this repository's files
    from serving.gateway.tokenizer import ItemTokenizer, PairTokenizer
    settings = h200_stack.gateway_tokenizers(repo)
    assert settings["tokenize"] == "gateway"
    assert ItemTokenizer(settings["tokenizer_dir"], 16).folder.parent.parent.name == "tokenizer"
    pair = PairTokenizer(settings["pair_tokenizer_dir"], 16)
    assert pair.folder.parent.parent.name == "pair_tokenizer"
    assert pair.encode(["mug"], ["cup"])["input_ids"].shape == (1, 5)


class _Fake(pb_grpc.KeyphraseRecommenderServicer):
    def Recommend(self, request, context):
        if request.item.title == "fail":
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "busy")
        return pb.RecommendResponse(timings=pb.StageTimings(embed_ms=1.0, search_ms=0.5))


@pytest.fixture
def fake_gateway():
    server = grpc.server(futures.ThreadPoolExecutor(8))
    pb_grpc.add_KeyphraseRecommenderServicer_to_server(_Fake(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}"
    server.stop(None)


def test_a_level_split_over_client_processes_counts_every_call(fake_gateway):
    from multiprocessing import get_context
    requests = [pb.RecommendRequest(item=pb.Item(item_id=str(i), title=t), k=10)
                for i, t in enumerate(["a", "b", "fail"])]
    with futures.ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        row = h200_stack.run_level(pool, 2, fake_gateway, requests, 3, 0.5)
    one = h200_stack.run_level(None, 1, fake_gateway, requests, 2, 0.3)
    for r in (row, one):
        assert r["requests"] > 0 and r["errors"] > 0 and r["qps"] > 0
        assert r["error_codes"] == {"RESOURCE_EXHAUSTED": r["errors"]}
        assert r["stage_mean_ms"] == {"embed": 1.0, "search": 0.5, "rerank": 0.0}
    assert row["concurrency"] == 3 and one["concurrency"] == 2


def test_results_keep_the_cpu_keys_and_label_the_random_weight_rows(tmp_path):
    (tmp_path / "serving.json").write_text(json.dumps(
        {"cpu": {"encoder": []}, "h100": {"comparison": {"weights": "random"}}}))
    (tmp_path / "gateway.json").write_text(json.dumps({"runs": {}, "cpu": {"best_qps": 1.0}}))
    (tmp_path / "gateway.md").write_text("# Gateway load test\n\n<!-- cpu bound -->\ncpu\n")
    point = {"concurrency": 1, "batch": 8, "infer_per_s": 5.0, "p50_ms": 1.0, "p95_ms": 2.0,
             "p99_ms": 3.0}
    h200_stack.write_serving(tmp_path, {"encoder": [point]}, replace=True)
    h200_stack.write_serving(tmp_path, {"comparison": {"x": 1}})
    serving = json.loads((tmp_path / "serving.json").read_text())
    assert list(serving) == ["cpu", "history_h100_random_weights", "h200"]
    assert serving["history_h100_random_weights"]["history"].startswith("earlier run")
    assert serving["h200"] == {"encoder": [point], "comparison": {"x": 1}}
    assert "## history_h100_random_weights" in (tmp_path / "serving.md").read_text()
    row = {"concurrency": 4, "qps": 9.0, "p50_ms": 1.0, "p95_ms": 2.0, "p99_ms": 3.0,
           "errors": 0, "stage_mean_ms": {"embed": 1.0, "search": 0.1, "rerank": 0.0}}
    for qps in (9.0, 11.0):  # a second run replaces the section, keeps everything else
        h200_stack.write_gateway(tmp_path, {"hardware": "hw", "bi_encoder": [
            {**row, "qps": qps}], "rerank": []})
    gateway = json.loads((tmp_path / "gateway.json").read_text())
    assert gateway["cpu"] == {"best_qps": 1.0} and gateway["h200"]["bi_encoder"][0]["qps"] == 11
    md = (tmp_path / "gateway.md").read_text()
    assert md.count(h200_stack.H200_START) == 1 and "| 4 | 11.0 |" in md
    assert md.startswith("# Gateway load test\n\n<!-- cpu bound -->\ncpu\n")


def test_triton_metrics_become_per_request_means():
    text = "\n".join([
        "# HELP nv_inference_request_success Number of successful inference requests",
        'nv_inference_request_success{model="encoder",version="1"} 4',
        'nv_inference_exec_count{model="encoder",version="1"} 2',
        'nv_inference_queue_duration_us{model="encoder",version="1"} 400',
        'nv_inference_compute_infer_duration_us{model="encoder",version="1"} 1000',
        'nv_inference_request_success{model="idle",version="1"} 0',
        'nv_gpu_utilization{gpu_uuid="x"} 0.5'])
    assert h200_stack.parse_triton_metrics(text) == {"encoder": {
        "requests": 4, "executions": 2, "queue_us": 100.0, "input_us": 0.0, "infer_us": 250.0,
        "output_us": 0.0}}


def test_gateway_workers_flag_is_parsed(tmp_path):
    base = ["--student", "s", "--cross-encoder", "c", "--out", str(tmp_path),
            "--perf-analyzer", "pa"]
    assert h200_stack.parse_args(base).gateway_workers == 1
    assert h200_stack.parse_args([*base, "--gateway-workers", "4"]).gateway_workers == 4


def test_embed_text_is_compared_per_input_and_against_the_encoder_at_the_longer_length():
    from bench.serving import triton_perf as perf

    def row(rate, **extra):
        return {"concurrency": 8, "batch": 256, "infer_per_s": rate, "p50_ms": 1.0,
                "p95_ms": 2.0, "p99_ms": 3.0, **extra}
    served = {"encoder": [row(200.0, seq_len=32), row(50.0, seq_len=128), row(40.0, seq_len=128)],
              "embed_text": [row(30.0, input="titles", mean_tokens=22.4),
                             row(25.0, input="item texts", mean_tokens=43.8)]}
    got = h200_stack.embed_comparison(served, 128)
    assert got["best_served_embed_text_titles_seq_per_s"] == 30.0
    assert got["best_served_embed_text_item_texts_seq_per_s"] == 25.0
    assert got["best_served_encoder_len128_seq_per_s"] == 50.0  # not the 32-token rows
    assert got["embed_text_item_texts_over_encoder_len128"] == 0.5
    assert h200_stack.embed_comparison({"encoder": [], "embed_text": []}, 128)[
        "embed_text_item_texts_over_encoder_len128"] is None
    md = perf.render_markdown({"h200": served})
    assert "| ids, 128 tokens | 8 | 256 | 50.0 |" in md
    assert "| titles, ~22.4 tokens | 8 | 256 | 30.0 |" in md
