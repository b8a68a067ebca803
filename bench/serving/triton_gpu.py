"""GPU serving benchmark: the student in a GPU Python-backend model (torch fp16) behind Triton,
against the same model called directly from torch and against its FLOP bound.

Runs where only the image's own packages exist (torch, transformers, sentence-transformers,
onnx, onnxruntime): the model weights are random, initialised from the student's
``config.json`` (throughput does not depend on weight values; the MiniLM weights are too large
to bring along), the server and perf_analyzer come unpacked from the carried archives. The
served encoder is the traced TorchScript ``model.pt`` (fp16): the server's Python cannot import
transformers, because the Triton stub needs numpy 1 and the image's transformers does not load
with it.

    python -m bench.serving.triton_gpu --skeleton DIR --workdir DIR --out DIR \
        --perf-analyzer PATH --extra-lib DIR
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from bench.serving import triton_perf as perf
from components.export.config import ExportConfig
from components.export.graphs import load_embedding_graph
from components.export.repository import build_model_repository

H100_DENSE_BF16_TFLOPS = 989.0  # H100 SXM spec sheet, dense (no sparsity)


def flops_per_sequence(hidden: int, intermediate: int, layers: int, seq_len: int) -> int:
    """Matrix-multiply FLOPs of one BERT encoder pass (2 per multiply-add).

    Per layer and token: Q, K, V and output projections 4·H², feed-forward 2·H·I; attention
    scores and weighted values 2·T·H. Embeddings, softmax, norms and pooling are ignored
    (element-wise, < 1%).
    """
    per_token = 2 * (4 * hidden * hidden + 2 * hidden * intermediate)
    attention = 2 * 2 * seq_len * hidden
    return layers * seq_len * (per_token + attention)


def random_student(skeleton: Path, out: Path, seed: int = 0) -> Path:
    """A sentence-transformers dir: the skeleton's config/tokenizer/pooling, random weights."""
    from transformers import AutoConfig, AutoModel
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(skeleton, out)
    torch.manual_seed(seed)
    AutoModel.from_config(AutoConfig.from_pretrained(skeleton)).save_pretrained(out)
    return out


def random_cross_encoder(student: Path, out: Path, seed: int = 0) -> Path:
    from sentence_transformers import CrossEncoder
    torch.manual_seed(seed)
    CrossEncoder(str(student), num_labels=1, device="cpu").save(str(out))
    return out


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_batches(fn, tokens: dict, batch: int, min_s: float = 1.0) -> float:
    """Sequences per second of ``fn`` on ``batch`` rows of ``tokens`` (after warm-up)."""
    rows = np.resize(np.arange(len(tokens["input_ids"])), batch)
    feed = {k: v[rows] for k, v in tokens.items()}
    for _ in range(3):
        fn(feed)
    _sync()
    n, start = 0, time.perf_counter()
    while n < 5 or time.perf_counter() - start < min_s:
        fn(feed)
        n += 1
    _sync()
    return batch * n / (time.perf_counter() - start)


def served_runner_rows(traced: Path, tokens: dict, batches: list[int],
                       device: str) -> list[dict]:
    """The served encoder's own runner (``encoding.TorchRunner``: numpy in, numpy out, as the
    Python backend calls it) on ``model.pt``, eager and replaying CUDA graphs: the ceiling of
    one model instance without Triton."""
    from components.export.templates import encoding_module

    enc = encoding_module()
    rows, reference = [], None
    check = {k: v[:37] for k, v in tokens.items()}  # an odd batch: padded to its bucket
    for graphs in ((False, True) if device.startswith("cuda") else (False,)):
        runner = enc.TorchRunner(traced, ["input_ids", "attention_mask"], device,
                                 cuda_graphs=graphs)
        out = runner(check)
        if reference is None:
            reference = out
        cosine = float(np.min(np.sum(out * reference, axis=1)
                              / np.linalg.norm(out, axis=1) / np.linalg.norm(reference, axis=1)))
        for batch in batches:
            rate = time_batches(runner, tokens, batch)
            rows.append({"batch": batch, "mode": "served runner, numpy in/out"
                         + (", CUDA graphs" if graphs else ", eager"),
                         "seq_per_s_numpy_roundtrip": round(rate),
                         "min_cosine_vs_eager_37_rows": round(cosine, 6),
                         **({"graph_error": runner.graph_error} if runner.graph_error else {})})
            print("torch direct", rows[-1], flush=True)
        del runner
    return rows


def torch_direct(student: Path, tokens: dict, batches: list[int], compile_batches: list[int],
                 device: str = "cuda", traced: Path | None = None) -> list[dict]:
    """The served graph (fp16, sdpa) called directly: GPU-resident inputs, and numpy in/out."""
    graph = load_embedding_graph(student, attn_implementation="sdpa").to(device).eval()
    if device != "cpu":
        graph = graph.half()
    rows = []
    with torch.inference_mode():
        def resident(feed):
            return graph(feed["input_ids"], feed["attention_mask"])

        def roundtrip(feed):
            ids = torch.from_numpy(feed["input_ids"]).to(device)
            mask = torch.from_numpy(feed["attention_mask"]).to(device)
            return graph(ids, mask).float().cpu().numpy()

        gpu_tokens = {k: torch.from_numpy(v).to(device) for k, v in tokens.items()}
        for batch in batches:
            rows.append({"batch": batch, "mode": "eager",
                         "seq_per_s_gpu_resident": round(time_batches(
                             resident, gpu_tokens, batch)),
                         "seq_per_s_numpy_roundtrip": round(time_batches(roundtrip, tokens,
                                                                         batch))})
            print("torch direct", rows[-1], flush=True)
        if traced is not None:  # the served artifact itself (model.pt), called from torch
            script = torch.jit.load(str(traced), map_location=device).eval()
            check = {k: v[:512] for k, v in gpu_tokens.items()}
            a = script(check["input_ids"], check["attention_mask"]).float()
            b = resident(check).float()
            cosine = torch.nn.functional.cosine_similarity(a, b, dim=1).min().item()
            rows.append({"mode": "check: served model.pt vs eager fp16 graph, 512 real texts",
                         "min_cosine": round(cosine, 6)})
            print("torch direct", rows[-1], flush=True)
            for batch in batches:
                rate = time_batches(lambda f: script(f["input_ids"], f["attention_mask"]),
                                    gpu_tokens, batch)
                rows.append({"batch": batch, "mode": "torchscript (served model.pt)",
                             "seq_per_s_gpu_resident": round(rate)})
                print("torch direct", rows[-1], flush=True)
            rows += served_runner_rows(traced, tokens, batches, device)
        if compile_batches:
            compiled = torch.compile(graph, dynamic=False)
            for batch in compile_batches:
                start = time.perf_counter()
                try:
                    rate = time_batches(lambda f: compiled(f["input_ids"], f["attention_mask"]),
                                        gpu_tokens, batch)
                except Exception as err:  # no compiler on the host, say: the other rows stand
                    rows.append({"batch": batch, "mode": "torch.compile",
                                 "error": " ".join(str(err).split())[:300]})
                    print("torch direct", rows[-1], flush=True)
                    break
                rows.append({"batch": batch, "mode": "torch.compile",
                             "seq_per_s_gpu_resident": round(rate),
                             "compile_and_bench_s": round(time.perf_counter() - start, 1)})
                print("torch direct", rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--skeleton", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--perf-analyzer", type=Path, required=True)
    parser.add_argument("--extra-lib", type=Path, action="append", default=[])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seq-len", type=int, default=32)
    parser.add_argument("--direct-batches", type=int, nargs="+", default=[64, 256, 1024, 4096])
    parser.add_argument("--compile-batches", type=int, nargs="*", default=[1024])
    parser.add_argument("--encoder-batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--encoder-concurrency", type=int, nargs="+", default=[2, 8])
    parser.add_argument("--embed-batches", type=int, nargs="+", default=[64])
    parser.add_argument("--embed-concurrency", type=int, nargs="+", default=[4, 16])
    parser.add_argument("--max-batch-size", type=int, default=1024)
    parser.add_argument("--interval-ms", type=int, default=2000)
    parser.add_argument("--hardware", default="h100")
    parser.add_argument("--peak-tflops", type=float, default=H100_DENSE_BF16_TFLOPS)
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    device_name = torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu"

    student = random_student(args.skeleton, args.workdir / "student")
    cross = random_cross_encoder(student, args.workdir / "cross_encoder")
    preferred = tuple(b for b in (64, 256, 512, 1024) if b <= args.max_batch_size)
    config = ExportConfig.from_yaml(
        target="python-torch", torch_device=args.device, max_seq_length=64,
        max_batch_size=args.max_batch_size, preferred_batch_sizes=preferred,
        max_queue_delay_us=1000, encoder_instances=2, cross_encoder_instances=2,
        tokenizer_instances=4)
    repo = build_model_repository(student, cross, args.workdir / "model_repository",
                                  target="python-torch", config=config, overwrite=True)

    texts = perf.item_texts(512)
    tokens = perf.tokenize_fixed(texts, args.skeleton, args.seq_len)
    direct = torch_direct(student, tokens, args.direct_batches, args.compile_batches,
                          args.device, repo / "encoder" / "1" / "model.pt")

    common = ["--model-repository", str(repo), "--perf-analyzer", str(args.perf_analyzer),
              "--hardware", args.hardware, "--out", str(args.out), "--seq-len",
              str(args.seq_len), "--interval-ms", str(args.interval_ms)]
    for lib in args.extra_lib:
        common += ["--extra-lib", str(lib)]
    command = ("python -m bench.serving.triton_gpu (H100: python-torch target, TorchScript fp16 "
               "encoder, 2 instances; perf_analyzer over gRPC on the same host)")
    perf.merge_results(args.out, args.hardware, {"torch_direct": direct})
    perf.main([*common, "--models", "encoder", "--batch", *map(str, args.encoder_batches),
               "--concurrency", *map(str, args.encoder_concurrency), "--command", command])
    results = perf.main([*common, "--models", "embed_text", "--batch",
                         *map(str, args.embed_batches), "--concurrency",
                         *map(str, args.embed_concurrency), "--command", command])

    cfg = json.loads((student / "config.json").read_text())
    flops = flops_per_sequence(cfg["hidden_size"], cfg["intermediate_size"],
                               cfg["num_hidden_layers"], args.seq_len)
    bound = args.peak_tflops * 1e12 / flops
    best_served = max((p["infer_per_s"] for p in results[args.hardware]["encoder"]), default=0.0)
    best_direct = max(r.get("seq_per_s_gpu_resident", 0) for r in direct)
    comparison = {
        "device": device_name, "seq_len": args.seq_len, "flops_per_sequence": flops,
        "peak_tflops_dense_bf16_spec": args.peak_tflops,
        "flop_bound_seq_per_s": round(bound),
        "best_served_encoder_seq_per_s": best_served,
        "best_torch_direct_seq_per_s": best_direct,
        "served_over_direct": round(best_served / best_direct, 3),
        "served_over_flop_bound": round(best_served / bound, 4),
        "direct_over_flop_bound": round(best_direct / bound, 4),
        "weights": "random (MiniLM-L6 architecture from config.json; speed does not depend on "
                   "weight values)",
    }
    print(json.dumps(comparison, indent=1))
    return perf.merge_results(args.out, args.hardware, {"torch_direct": direct,
                                                        "comparison": comparison})


if __name__ == "__main__":
    main()
