"""The cross-validation report: per-query merging over folds and seeds, paired intervals."""

import json

import pytest

from bench.cv.common import make_splits, write_json
from bench.cv.config import CONFIG_DIR, CVConfig, load_cv_config
from bench.cv.report import model_table, run_report
from bench.cv.students import trained_splits


def test_committed_configs_load_and_unknown_keys_fail(tmp_path):
    for name in ("h200.yaml", "smoke.yaml", "h200-lora-teacher.yaml", "h200-round5.yaml",
                 "smoke-round4.yaml"):
        assert load_cv_config(CONFIG_DIR / name).n_folds >= 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("n_folds: 5\nfolds: 3\n")
    with pytest.raises(ValueError, match="unknown keys"):
        load_cv_config(bad)


def _metrics(v):
    return {"ndcg@10": v, "recall@10": v, "precision@10": v, "mrr": v}


def _fake_work(tmp_path, queries):
    """A work folder as the GPU stages leave it, with hand-set per-query values."""
    work = tmp_path / "work"
    splits = make_splits(queries, n_folds=3, seed=13, seed13=True)
    write_json(work / "prepare" / "splits.json", {n: s.to_dict() for n, s in splits.items()})
    write_json(work / "prepare" / "zero_shot.json", {"384": {q: _metrics(0.5) for q in queries}})
    write_json(work / "judge" / "prompts.json", {
        "chosen": "v", "chosen_on": "x", "reports": {},
        "per_query": {"v": {q: _metrics(0.8) for q in queries}}})
    write_json(work / "assistant" / "assistant.json", {
        "chosen": "bce", "objectives": {"bce": {"per_query": {q: _metrics(0.7)
                                                              for q in queries}}}})
    for name, split in splits.items():
        if name == "seed13":
            continue
        for seed in (0, 1):
            for variant, value in (("click_only", 0.6), ("distilled", 0.6 + 0.05 * (seed + 1))):
                write_json(work / "students" / name / f"{variant}_s{seed}.json", {
                    "split": name, "variant": variant, "seed": seed, "examples": {},
                    "train": {"examples_per_s": 1.0, "seconds": 1.0, "best_step": 1},
                    "per_query": {"384": {q: _metrics(value)
                                          for q in split.queries("test")}}})
    return work, splits


def test_report_merges_folds_and_seeds_per_query_and_pairs_them(tmp_path):
    queries = [f"q{n:02d}" for n in range(12)]
    work, splits = _fake_work(tmp_path, queries)
    result = run_report(CVConfig(n_folds=3, bootstrap_resamples=200), work, None)
    cv = result["cv"]
    assert cv["queries"] == 12 and cv["folds"] == 3
    assert cv["models"]["distilled"]["ndcg@10"] == pytest.approx(0.675)  # mean of 0.65, 0.70
    assert cv["models"]["distilled"]["seeds"] == 2
    assert cv["models"]["distilled"]["seed_std"] == pytest.approx(0.025)
    assert cv["models"]["judge"]["queries"] == 12
    diff = cv["paired"]["distilled_minus_click_only"]
    assert diff["mean"] == pytest.approx(0.075) and diff["ci_low"] > 0
    assert cv["paired"]["cross_encoder_minus_judge"]["mean"] == pytest.approx(-0.1)
    # seed-13 table: fold-free models on its test queries only; no seed-13 students here
    assert set(result["seed13"]) >= {"judge", "cross_encoder", "minilm_zero_shot"}
    assert "distilled" not in result["seed13"]
    json.dumps(result)  # serialisable as written to docs/results


def test_model_table_takes_each_query_from_the_fold_that_tested_it():
    models = {"m": {"fold0": {"seeds": {0: {"a": _metrics(1.0), "b": _metrics(0.0)}}},
                    "fold1": {"seeds": {0: {"a": _metrics(0.0), "b": _metrics(0.5)}}}}}
    table = model_table(models, {"fold0": ["a"], "fold1": ["b"]}, "ndcg@10")
    assert table["m"]["per_query"] == {"a": 1.0, "b": 0.5}


def test_students_train_on_folds_and_on_seed13_only_when_asked(tmp_path):
    work, _ = _fake_work(tmp_path, [f"q{n:02d}" for n in range(12)])
    assert trained_splits(CVConfig(), work) == ["fold0", "fold1", "fold2"]
    assert trained_splits(CVConfig(seed13_students=True), work)[-1] == "seed13"


def test_extra_variants_are_paired_with_the_baselines_and_the_variant_they_extend():
    from bench.cv.report import extra_pairs

    assert extra_pairs(("click_only", "distilled", "distilled_lora")) == (
        ("distilled_lora", "click_only"), ("distilled_lora", "click_sr"),
        ("distilled_lora", "minilm_zero_shot"), ("distilled_lora", "distilled"),
        ("distilled_lora", "one_step"), ("distilled_lora", "judge"))
    assert extra_pairs(("one_step_lora",))[-1] == ("one_step_lora", "one_step")


def _baseline(tmp_path, queries, folds=3, seeds=(0, 1)):
    """An earlier round's published cv.json: click_only (and its 256-d head) at 0.6."""
    path = tmp_path / "cv-earlier.json"
    per_query = {"click_only": {q: 0.6 for q in queries},
                 "click_only_256": {q: 0.55 for q in queries},
                 "click_onlyx": {q: 0.1 for q in queries}}
    models = {name: {"ndcg@10": 0.6, "queries": len(queries)} for name in per_query}
    write_json(path, {"cv": {"folds": folds, "seeds": list(seeds), "models": models,
                             "per_query_ndcg@10": per_query}})
    return path


def test_baseline_variants_come_from_the_earlier_round_and_are_paired(tmp_path):
    queries = [f"q{n:02d}" for n in range(12)]
    work, _ = _fake_work(tmp_path, queries)
    for path in (work / "students").glob("*/click_only_*.json"):
        path.unlink()  # this round trains distilled only
    config = CVConfig(n_folds=3, bootstrap_resamples=200,
                      variants=("distilled", "click_only"), baseline_variants=("click_only",),
                      baseline_results=str(_baseline(tmp_path, queries)))
    cv = run_report(config, work, None)["cv"]
    assert cv["models"]["click_only"]["from"] == config.baseline_results
    assert "click_only_256" in cv["models"] and "click_onlyx" not in cv["models"]
    assert cv["paired"]["distilled_minus_click_only"]["mean"] == pytest.approx(0.075)
    assert cv["baseline"] == {"results": config.baseline_results, "variants": ["click_only"],
                              "rows": []}
    # never trained in this round
    from bench.cv.students import pending_jobs
    assert {v for _, v, _ in pending_jobs(config, work)} <= {"distilled"}


def test_the_lora_judge_row_comes_from_the_earlier_round_when_lora_is_off(tmp_path):
    queries = [f"q{n:02d}" for n in range(12)]
    work, _ = _fake_work(tmp_path, queries)
    earlier = _baseline(tmp_path, queries)
    cv_json = json.loads(earlier.read_text())
    cv_json["cv"]["per_query_ndcg@10"]["judge_lora"] = {q: 0.9 for q in queries}
    cv_json["cv"]["models"]["judge_lora"] = {"ndcg@10": 0.9, "queries": 12}
    earlier.write_text(json.dumps(cv_json))
    config = CVConfig(n_folds=3, bootstrap_resamples=200, variants=("distilled", "click_only"),
                      lora=False, baseline_rows=("judge_lora",),
                      baseline_results=str(earlier))
    cv = run_report(config, work, None)["cv"]
    assert cv["models"]["judge_lora"]["from"] == str(earlier)
    assert cv["paired"]["judge_lora_minus_judge"]["mean"] == pytest.approx(0.1)
    assert cv["baseline"]["rows"] == ["judge_lora"]
    with pytest.raises(ValueError, match="lora: false"):
        CVConfig(lora=True, baseline_rows=("judge_lora",), baseline_results=str(earlier))
    with pytest.raises(ValueError, match="judge_lora only"):
        CVConfig(lora=False, baseline_rows=("distilled",), baseline_results=str(earlier))


def test_a_baseline_from_other_folds_or_queries_is_refused(tmp_path):
    queries = [f"q{n:02d}" for n in range(12)]
    work, _ = _fake_work(tmp_path, queries)
    for folds, scored, match in ((5, queries, "folds"), (3, queries[:-1], "queries")):
        config = CVConfig(n_folds=3, bootstrap_resamples=50,
                          variants=("distilled", "click_only"),
                          baseline_variants=("click_only",),
                          baseline_results=str(_baseline(tmp_path, scored, folds=folds)))
        with pytest.raises(ValueError, match=match):
            run_report(config, work, None)
    with pytest.raises(ValueError, match="baseline_results"):
        CVConfig(variants=("distilled", "click_only"), baseline_variants=("click_only",))


def test_the_runs_dimension_table_is_published_beside_the_judge(tmp_path):
    from bench.cv.results import publish_dimensions
    from components.judge.dimensions import DIMENSIONS
    from components.judge.dimensions_bench import dimension_quality

    def answer(yes):
        return {d: {"yes": yes, "no": 1 - yes - 0.1, "na": 0.1} for d in DIMENSIONS}

    rows = [{"role": role, "grade": grade, "p_relevant": p, "dimensions": answer(p),
             "query": "q", "title": "t", "brand": "b", "item_id": f"i{n}"}
            for n, (role, grade, p) in enumerate(
                [(r, g, p) for r in ("fit", "eval") for g, p in (("E", 0.8), ("I", 0.2),
                                                                  ("E", 0.7), ("I", 0.3))])]
    dims = {"asked_now": 8, "seconds": 2.0, "pairs_per_s": 4.0, "judge_model": "m",
            "prompt_version": "rubric-v6", "dimension_version": "dims-v1",
            "quality": dimension_quality(rows)}
    out = tmp_path / "results"
    out.mkdir()
    (out / "judge.json").write_text(json.dumps({"models": {}}))
    publish_dimensions({"stages": {"dimensions": dims}, "hardware": "H200"}, out, "cmd")
    page = json.loads((out / "judge_dimensions.json").read_text())
    assert page["quality"]["combination"]["auc_single_question"] == 1.0
    assert page["judged_now"]["dimensions"] == 8 and page["command"] == "cmd"
    assert "8 pairs' dimensions judged" in (out / "judge_dimensions.md").read_text()
    assert json.loads((out / "judge.json").read_text())["dimensions"]["m@dims-v1"][
        "pairs_per_s"] == 4.0
    publish_dimensions({"stages": {}}, out, "cmd")  # a run without dimensions: nothing changes
    assert json.loads((out / "judge_dimensions.json").read_text()) == page
