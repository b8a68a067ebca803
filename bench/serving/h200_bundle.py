"""Pack what the GPU host lacks for ``bench.serving.h200_stack`` into chunks that travel one by
one; and, on that host, turn the weights back into fp32 files.

    python -m bench.serving.h200_bundle --student DIR --cross-encoder DIR --out DIR
    python -m bench.serving.h200_bundle --fp32 MODEL_DIR [MODEL_DIR ...]    # on the GPU host

The GPU host has torch, transformers, sentence-transformers, tokenizers and grpcio, and cannot
download anything. The bundle (one tar, split into ``part-NN`` of at most ``--chunk-mb`` MB,
``MANIFEST`` lists their sha256; rejoin with ``cat part-* | tar x``) holds, under ``bundle/``:

    triton.tar.xz   tritonserver (nvidia-pytriton wheel): the server and its libraries (without
                    the wheel's libpython3.13), the Python backend, the Python 3.12 stub
    perf.tar.xz     bin/perf_analyzer (tritonclient 2.50.0 wheel), lib/libb64.so.0d (Debian
                    libb64-0d), lib/libcudart.so.12 (nvidia-cuda-runtime-cu12)
    wheels/         Python 3.12 wheels the gateway, the load test and the index need (the
                    Milvus 2.3 standalone server among them)
    stub/           numpy 1.26.4 for the Triton Python-backend stub (built on the numpy 1 ABI)
    models.tar.xz   models/student, models/cross_encoder: weights as fp16 safetensors (the
                    precision they are served in, 10% smaller again with xz; ``--fp32``
                    writes them back as fp32 files)
    data/           the ESCI and WANDS files the index and the load test read
Beside the parts, ``code.tar.gz``: the repository's files (tracked and untracked, not ignored)
as they are in the working tree, small and apart so that a code change needs no new parts
(``--code-only`` writes it alone). ``bench/serving/h200_run.sh`` runs the benchmark from it
(``H200_STAGE=index``: the index at scale, ``bench.serving.index_scale``, instead).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import io
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from components.settings import REPO_ROOT, data_dir

PY = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_24_x86_64",
             "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")
GATEWAY_WHEELS = (
    "tritonclient==2.73.0", "python-rapidjson==1.25", "protobuf==6.33.6",
    "grpcio-health-checking==1.81.1", "grpcio-reflection==1.81.1",
    "pydantic==2.14.3", "pydantic-core==2.50.4", "pydantic-settings==2.16.3",
    "typing-inspection==0.4.5", "annotated-types==0.8.0", "typing-extensions==4.16.0",
    "python-dotenv==1.2.4",
    "pymilvus==3.0.2", "orjson==3.13.0", "cachetools==8.0.2",
    "milvus-lite==3.2.2", "faiss-cpu==1.15.1",
    "milvus==2.3.5",
)
"""What the gateway, the load test and the index builder import beyond the GPU image (which
has torch, transformers, sentence-transformers, tokenizers, grpcio, numpy 2, pandas, pyarrow,
prometheus-client, pyyaml, requests, urllib3, ml-dtypes); pinned like the project's lock.
``milvus`` is the Milvus 2.3 standalone server of ``bench.serving.index_scale`` (58 MB, one
manylinux2014 wheel for every Python: the server binary and its libraries, lzma-packed, and a
launcher that imports only the standard library)."""
STUB_WHEELS = ("numpy==1.26.4",)
PERF_WHEELS = ("tritonclient==2.50.0", "nvidia-cuda-runtime-cu12==12.6.77")
FP16_MARK = "FP16_WEIGHTS"


def pip_download(specs: tuple[str, ...], dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
           "--python-version", PY, "--implementation", "cp", "-d", str(dest)]
    for platform in PLATFORMS:
        cmd += ["--platform", platform]
    subprocess.run(cmd + list(specs), check=True)
    return sorted(dest.glob("*.whl"))


def triton_archive(out: Path) -> Path:
    """The installed nvidia-pytriton wheel's server, trimmed to what serves a Python-backend
    repository with Python 3.12, in the layout ``KPDISTILL_TRITON_ROOT`` expects."""
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("nvidia-pytriton is not installed here (make venv)")
    root = Path(next(iter(spec.submodule_search_locations))).parent
    server = root / "pytriton" / "tritonserver"
    with tarfile.open(out, "w:xz", preset=9) as tar:
        for sub in ("bin/tritonserver", "backends/python", "caches",
                    f"python_backend_stubs/{PY}"):
            tar.add(server / sub, f"pytriton/tritonserver/{sub}")
        for lib in sorted((root / "nvidia_pytriton.libs").iterdir()):
            if not lib.name.startswith("libpython3"):
                tar.add(lib, f"nvidia_pytriton.libs/{lib.name}")
    return out


def perf_archive(out: Path, work: Path) -> Path:
    """perf_analyzer and the two libraries it needs that the GPU image lacks."""
    wheels = pip_download(PERF_WHEELS, work / "perf-wheels")
    subprocess.run(["apt-get", "download", "libb64-0d"], cwd=work, check=True,
                   capture_output=True)
    deb = next(work.glob("libb64-0d_*.deb"))
    subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "b64")], check=True)
    import zipfile
    with tarfile.open(out, "w:xz", preset=9) as tar:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as zf:
                for name in zf.namelist():
                    target = None
                    if name.endswith("/data/bin/perf_analyzer"):
                        target = "bin/perf_analyzer"
                    elif name.endswith("cuda_runtime/lib/libcudart.so.12"):
                        target = "lib/libcudart.so.12"
                    if target:
                        blob = zf.read(name)
                        info = tarfile.TarInfo(target)
                        info.size, info.mode = len(blob), 0o755
                        tar.addfile(info, io.BytesIO(blob))
        b64 = next((work / "b64").rglob("libb64.so.0d*"))
        tar.add(b64.resolve(), "lib/libb64.so.0d")
    return out


def convert_weights(model_dir: Path, to_fp16: bool) -> None:
    """Every floating tensor of ``model.safetensors`` to fp16 (marked), or back to fp32."""
    import torch
    from safetensors.torch import load_file, save_file
    path, mark = model_dir / "model.safetensors", model_dir / FP16_MARK
    if to_fp16 == mark.exists():
        return
    dtype = torch.float16 if to_fp16 else torch.float32
    tensors = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
               for k, v in load_file(str(path)).items()}
    save_file(tensors, str(path), metadata={"format": "pt"})
    mark.touch() if to_fp16 else mark.unlink()


def code_archive(out: Path, root: Path = REPO_ROOT) -> Path:
    files = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others",
                            "--exclude-standard"], check=True,
                           capture_output=True).stdout.decode().split("\0")
    with tarfile.open(out, "w:gz") as tar:
        for name in filter(None, files):
            if (root / name).is_file():
                tar.add(root / name, name)
    return out


def split(archive: Path, out: Path, chunk_bytes: int) -> list[Path]:
    """``archive`` cut into ``part-00``, ``part-01``, ... plus ``MANIFEST`` (sha256 each)."""
    parts, lines = [], []
    with open(archive, "rb") as fh:
        while block := fh.read(chunk_bytes):
            part = out / f"part-{len(parts):02d}"
            part.write_bytes(block)
            parts.append(part)
            lines.append(f"{hashlib.sha256(block).hexdigest()}  {part.name}")
    (out / "MANIFEST").write_text("\n".join(lines) + "\n")
    return parts


def build(student: Path, cross_encoder: Path, out: Path, chunk_mb: int = 56) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("part-*"):
        old.unlink()
    with tempfile.TemporaryDirectory(prefix="kpdistill-bundle-") as tmp:
        stage = Path(tmp) / "bundle"
        stage.mkdir()
        triton_archive(stage / "triton.tar.xz")
        perf_archive(stage / "perf.tar.xz", Path(tmp))
        pip_download(GATEWAY_WHEELS, stage / "wheels")
        pip_download(STUB_WHEELS, stage / "stub")
        models = Path(tmp) / "models"
        for name, src in (("student", student), ("cross_encoder", cross_encoder)):
            shutil.copytree(src, models / name)
            convert_weights(models / name, to_fp16=True)
        with tarfile.open(stage / "models.tar.xz", "w:xz", preset=6) as tar:
            tar.add(models, "models")
        shutil.copytree(data_dir(), stage / "data")
        archive = Path(tmp) / "bundle.tar"
        with tarfile.open(archive, "w") as tar:
            tar.add(stage, "bundle")
        for f in sorted(stage.rglob("*")):
            if f.is_file() and f.stat().st_size > 1 << 20:
                print(f"{f.stat().st_size / 1e6:8.1f} MB  {f.relative_to(stage)}")
        parts = split(archive, out, chunk_mb * 1_000_000)
    code_archive(out / "code.tar.gz")
    return parts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--student", type=Path)
    p.add_argument("--cross-encoder", type=Path)
    p.add_argument("--out", type=Path)
    p.add_argument("--chunk-mb", type=int, default=56)
    p.add_argument("--fp32", type=Path, nargs="+", help="model folders to turn back to fp32")
    p.add_argument("--code-only", action="store_true", help="only write OUT/code.tar.gz")
    args = p.parse_args(argv)
    if args.code_only and args.out:
        print(code_archive(args.out / "code.tar.gz"))
        return
    if args.fp32:
        for model_dir in args.fp32:
            convert_weights(model_dir, to_fp16=False)
        return
    if not (args.student and args.cross_encoder and args.out):
        p.error("--student, --cross-encoder and --out are required")
    parts = build(args.student, args.cross_encoder, args.out, args.chunk_mb)
    for part in parts:
        print(f"{part}  {part.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
