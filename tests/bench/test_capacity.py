"""The capacity model: unit costs read from the results files, the arithmetic, and
docs/SCALING.md kept in step with the committed results."""

import json
import re
from pathlib import Path

import pytest

from bench.capacity import END, START, _size, index_bytes, markdown, plan, unit_costs

ROOT = Path(__file__).resolve().parents[2]


def _results(tmp_path, gateway=None):
    cv = {"hardware": "one GPU", "stages": {
        "prepare": {"training_keyphrases": {"all": 100}},
        "judge": {"pairs": 4000, "pairs_per_s": 1000.0},
        "pool": {"pairs": 40000, "pairs_per_s": 50000.0},
        "timings": {"students": 100.0},
        "students": {"v": {"fold0/s0": {"texts_per_s": 500.0, "seconds": 100.0},
                           "fold1/s0": {"texts_per_s": 500.0, "seconds": 100.0}}}}}
    (tmp_path / "cv.json").write_text(json.dumps(cv))
    (tmp_path / "serving.json").write_text(json.dumps({"h200": {"hardware": "one GPU",
        "embed_text": [{"concurrency": 4, "batch": 64, "infer_per_s": 64000.0},
                       {"concurrency": 8, "batch": 256, "infer_per_s": 50000.0}]}}))
    if gateway:
        (tmp_path / "gateway.json").write_text(json.dumps(gateway))
    return tmp_path


def test_the_plan_scales_the_measured_run(tmp_path):
    units = unit_costs(_results(tmp_path))
    assert units["judged_per_keyphrase"].value == 40 and units["pool_per_keyphrase"].value == 400
    assert units["student_texts_per_s"].value == 1000  # two runs side by side
    assert units["served_embed_text_seq_per_s"].value == 64_000  # the best sweep point
    lines = {line["what"]: line for line in plan(1_000_000, 1000, units, 5000)["lines"]}
    assert lines["pairs the judge labels"]["value"] == 40_000
    assert lines["judge GPU-hours"]["value"] == pytest.approx(40_000 / 1000 / 3600)
    assert lines["assistant scoring GPU-hours"]["value"] == pytest.approx(400_000 / 50_000 / 3600)
    student = next(v for k, v in lines.items() if k.startswith("student GPU-hours"))
    assert student["value"] == pytest.approx(2 * 440_000 / 1000 / 3600)
    # no gateway figure: the hosts line says so, and the model-only bound stands beside it
    hosts = next(v for k, v in lines.items() if k.startswith("GPU hosts"))
    assert hosts["value"] is None and "not measured" in markdown([plan(10, 10, units, 1)],
                                                                   units, "cmd")
    bound = next(v for k, v in lines.items() if k.startswith("GPUs for"))
    assert bound["value"] == 1 and "serving.json h200.embed_text" in bound["rests_on"][0]


def test_the_gateway_figure_sizes_the_serving_fleet(tmp_path):
    gateway = {"h200": {"hardware": "one GPU", "bi_encoder": [
        {"concurrency": 8, "qps": 900.0, "p99_ms": 9.0, "errors": 0},
        {"concurrency": 64, "qps": 2500.0, "p99_ms": 40.0, "errors": 0},
        {"concurrency": 256, "qps": 9000.0, "p99_ms": 900.0, "errors": 12}]}}
    units = unit_costs(_results(tmp_path, gateway))
    assert units["gateway_qps"].value == 2500  # a sweep point with errors does not count
    hosts = next(line for line in plan(1, 1, units, 10_000)["lines"]
                 if line["what"].startswith("GPU hosts"))
    assert hosts["value"] == 4


def test_index_memory_and_sizes():
    assert index_bytes(1000, 64, 0) == pytest.approx(1000 * (256 + 136 + 64))
    assert _size("10M:1M") == (10_000_000, 1_000_000) and _size("1B:10M")[0] == 10**9
    with pytest.raises(Exception, match="ITEMS:KEYPHRASES"):
        _size("10M")


def test_scaling_md_holds_the_table_of_the_committed_results():
    """docs/SCALING.md is what `make capacity` writes from docs/results: rerun it after a
    benchmark changes a unit cost."""
    from bench.capacity import SIZES

    units = unit_costs(ROOT / "docs" / "results")
    expected = markdown([plan(i, k, units, 10_000) for i, k in SIZES], units,
                        "python -m bench.capacity --out docs/SCALING.md")
    text = (ROOT / "docs" / "SCALING.md").read_text()
    table = re.search(re.escape(START) + r"\n(.*)\n" + re.escape(END), text, re.S).group(1)
    assert table == expected, "docs/SCALING.md is stale: run `make capacity`"
    assert {"judge_pairs_per_s", "pool_pairs_per_s", "student_texts_per_s"} <= set(units)
