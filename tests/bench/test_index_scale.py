"""bench.serving.index_scale's results: the gateway.json keys and its gateway.md section."""

import json

import pytest

from bench.serving import index_scale
from bench.serving.loadtest import CPU_START, write_markdown


def _result(rows):
    largest = {"keyphrases": 5000, "backend": "milvus 2.3.5 standalone", "p99_ms": 4.0,
               "p50_ms": 2.0, "recall@10": 0.97, "index_type": "HNSW",
               "index_params": {"M": 16, "efConstruction": 200}, "search_params": {"ef": 64},
               "real": 100, "synthetic": 4900, "queries": 50, "insert_s": 1.0,
               "index_build_s": 2.0, "meets_goal": True, "goal": "recall@10 >= 0.95",
               "lite": None}
    return {"index_scale": rows,
            "index": {"largest": largest if rows else None,
                      "universe": {"keyphrases": 5000, "real": 100, "synthetic": 4900,
                                   "real_queries": {"esci": 10, "wands": 20}, "real_mined": 70,
                                   "synthetic_by_modifier": {"brand": 4000, "colour": 800,
                                                             "audience": 100}},
                      "grid": {"hnsw_ef": [64], "ivf_nprobe": [16], "ivf_nlist": {"5000": 256},
                               "lite_ef": [96], "queries": 50, "lite_queries": 10},
                      "timings": {"total_s": 9.0}},
            "index_command": "python -m bench.serving.index_scale --sizes 5000",
            "index_hardware": "x86_64, 2 CPU cores", "index_date": "2026-12-03"}


ROW = {"backend": "milvus 2.3.5 standalone", "keyphrases": 5000, "real": 100,
       "synthetic": 4900, "index_type": "HNSW", "index_params": {"M": 16, "efConstruction": 200},
       "search_params": {"ef": 64}, "insert_s": 1.0, "index_build_s": 2.0, "queries": 50,
       "search_p50_ms": 2.0, "search_p95_ms": 3.0, "search_p99_ms": 4.0, "recall_at_10": 0.97}


def test_the_section_says_how_the_universe_is_made_and_what_was_chosen():
    md = index_scale.markdown(_result([ROW, {**ROW, "search_params": {"ef": 256},
                                             "skipped": "not run: the budget was spent"}]))
    assert "100 real keyphrases" in md and "4,900 of 5,000, are SYNTHETIC" in md
    assert "**Chosen** at 5,000 keyphrases" in md and "p99 **4.0 ms**" in md
    assert "| 0.97 |" in md and "skipped: not run: the budget was spent" in md
    empty = index_scale.markdown(_result([]))
    assert "Not measured yet" in empty and "Chosen" not in empty


def test_results_keep_the_other_keys_and_sections(tmp_path):
    (tmp_path / "gateway.json").write_text(json.dumps({"runs": {"a": []}, "index_scale": [1]}))
    (tmp_path / "gateway.md").write_text(f"# Gateway load test\n\ntables\n\n{CPU_START}\ncpu\n")
    index_scale.write_results(_result([ROW]), tmp_path)
    index_scale.write_results(_result([ROW]), tmp_path)  # a second run replaces its section
    result = json.loads((tmp_path / "gateway.json").read_text())
    assert result["runs"] == {"a": []} and result["index_scale"] == [ROW]
    assert result["index"]["largest"]["recall@10"] == 0.97 and result["index_command"]
    md = (tmp_path / "gateway.md").read_text()
    assert md.count(index_scale.INDEX_START) == 1 and md.count(index_scale.INDEX_END) == 1
    assert md.index("tables") < md.index(index_scale.INDEX_START) < md.index(CPU_START)
    assert f"{index_scale.INDEX_END}\n\n{CPU_START}" in md  # one blank line, run after run
    # the load test rewrites its own tables and keeps the index section and the CPU one
    write_markdown({"command": "c", "machine": "m", "index_keyphrases": 1, "items": 1,
                    "duration_s": 1, "runs": {}}, tmp_path / "gateway.md")
    md = (tmp_path / "gateway.md").read_text()
    assert "tables" not in md and md.count(index_scale.INDEX_START) == 1
    assert "**Chosen**" in md and md.index(index_scale.INDEX_END) < md.index(CPU_START)


def test_server_sizes_need_a_server():
    with pytest.raises(SystemExit):
        index_scale.main(["--sizes", "1000", "--lite-sizes", ""])
    with pytest.raises(SystemExit):
        index_scale.main(["--sizes", "", "--lite-sizes", ""])
