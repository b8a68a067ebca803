"""Benchmark stages around the judge: generated keyphrases, label reuse, per-variant students."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bench.cv.common import Data, read_json
from bench.cv.config import CONFIG_DIR, load_cv_config
from bench.cv.judging import label_candidates
from bench.cv.prepare import training_keyphrases
from components.contracts import write_jsonl_atomic
from components.judge.labels import load_teacher_labels
from components.judge.reading import SoftLabel


@pytest.fixture(scope="module")
def data():
    return Data.load(max_queries=15)


@pytest.fixture(scope="module")
def config():
    return load_cv_config(CONFIG_DIR / "smoke.yaml")


def test_generated_keyphrases_join_after_the_others_never_as_an_esci_query(data, config):
    esci = next(iter(data.query_text.values()))
    generated = [{"id": "generated:a", "text": "cordless drill kit"},
                 {"id": "generated:b", "text": esci.upper()},           # an evaluation query
                 {"id": "generated:c", "text": "Cordless  Drill Kit"}]  # a duplicate
    plain = training_keyphrases(data, config)
    both = training_keyphrases(data, config, generated)
    assert both[: len(plain)] == plain  # earlier keyphrases (and their candidates) unchanged
    assert both[len(plain):] == [{"id": "generated:a", "text": "cordless drill kit",
                                  "source": "generated"}]


class _CountingJudge:
    """Stands in for the LLM: labels are a function of the pair, and calls are recorded."""

    prompt_version, item_prefix, batch_size = "rubric-v6", False, 4

    def __init__(self):
        self.judged: list[tuple[str, str]] = []

    def judge(self, requests):
        self.judged += [(r.item.item_id, r.keyphrase) for r in requests]
        return [SoftLabel("ok", {"E": 0.25, "S": 0.0, "C": 0.0, "I": 0.75}) for _ in requests]


def test_a_rerun_judges_only_the_new_pairs_and_keeps_the_earlier_labels(tmp_path, data,
                                                                        config, monkeypatch):
    import components.judge.throughput as throughput
    monkeypatch.setattr(throughput, "judge_and_measure",  # its timing is tested on its own
                        lambda judge, requests: (judge.judge(requests), {"pairs_per_s": 1.0}))
    work = tmp_path / "work"
    item_ids = sorted(data.items)[:6]
    rows = [{"item_id": i, "keyphrase": "desk lamp", "query_id": None, "source": "retrieved"}
            for i in item_ids[:4]]
    write_jsonl_atomic(work / "prepare" / "candidates.jsonl", rows)
    write_jsonl_atomic(work / "prepare" / "clicks" / "clicks.jsonl", [])
    write_jsonl_atomic(work / "prepare" / "clicks" / "filtered.jsonl", [])
    config = replace(config, judge_model="counting", judge_esci_pairs=False, throughput_pairs=0)
    first = _CountingJudge()
    label_candidates(first, config, data, work, "rubric-v6")
    assert len(first.judged) == 4
    store = work / "judge" / "teacher_labels.jsonl"
    assert [lab.p_relevant for lab in load_teacher_labels(store)] == [0.25] * 4

    more = rows + [{"item_id": i, "keyphrase": "cordless drill kit", "query_id": None,
                    "source": "retrieved"} for i in item_ids[4:]]
    write_jsonl_atomic(work / "prepare" / "candidates.jsonl", more)
    second = _CountingJudge()
    label_candidates(second, config, data, work, "rubric-v6")
    assert second.judged == [(i, "cordless drill kit") for i in item_ids[4:]]
    labels = load_teacher_labels(store)
    assert [(lab.item_id, lab.keyphrase) for lab in labels] == \
        [(r["item_id"], r["keyphrase"]) for r in more]

    other_prompt = _CountingJudge()  # another prompt's labels are not this prompt's
    other_prompt.prompt_version = "rubric-v7-exact"
    label_candidates(other_prompt, config, data, work, "rubric-v7-exact")
    assert len(other_prompt.judged) == len(more)


def test_esci_pairs_are_labelled_once_with_their_query_when_asked(tmp_path, data, config,
                                                                 monkeypatch):
    import components.judge.throughput as throughput
    monkeypatch.setattr(throughput, "judge_and_measure",
                        lambda judge, requests: (judge.judge(requests), {"pairs_per_s": 1.0}))
    work = tmp_path / "work"
    first = data.judgments[0]
    write_jsonl_atomic(work / "prepare" / "candidates.jsonl", [])
    write_jsonl_atomic(work / "prepare" / "clicks" / "clicks.jsonl", [
        {"item_id": first.item_id, "keyphrase": first.query, "query_id": first.query_id,
         "clicks": 1}])
    write_jsonl_atomic(work / "prepare" / "clicks" / "filtered.jsonl", [])
    judge = _CountingJudge()
    label_candidates(judge, replace(config, judge_esci_pairs=True, throughput_pairs=0), data,
                     work, "rubric-v6")
    labels = load_teacher_labels(work / "judge" / "teacher_labels.jsonl")
    assert len(labels) == len(data.judgments) == len(judge.judged)  # the clicked pair once
    assert labels[0].source == "clicked"
    assert {lab.source for lab in labels[1:]} == {"judged"}
    assert all(lab.query_id for lab in labels)  # folds filter them by query


def test_variant_student_overrides_apply_to_their_variant_only(config):
    distilled = config.student_for("distilled")
    assert distilled.max_steps == 6 and distilled.sampler == "weighted"
    assert distilled.task_weights["distill"] == 4.0
    assert config.student_for("click_only") == config.student
    with pytest.raises(ValueError, match="not run"):
        replace(config, variant_student={"ghost": {"max_steps": 3}})
    with pytest.raises(ValueError, match="unknown StudentConfig fields"):
        replace(config, variant_student={"distilled": {"steps": 3}})


def test_the_h200_config_gives_the_teacher_variants_their_share_of_the_same_schedule():
    config = load_cv_config(CONFIG_DIR / "h200.yaml")
    shares = {}
    for variant in ("one_step", "distilled"):
        student = config.student_for(variant)
        assert student.sampler == "weighted" and student.max_steps == config.student.max_steps
        assert set(student.task_weights) == set(config.tasks_for(variant))
        total = sum(student.task_weights.values())
        shares[variant] = {k: w / total for k, w in student.task_weights.items()}
    # the same share of steps for clicks, Search relevance and the train queries' judge lists
    for task in ("clicks", "sr", "judge_query"):
        assert shares["one_step"][task] == pytest.approx(shares["distilled"][task])
    assert config.tasks_for("click_only") == ("clicks",)


def test_the_judge_benchmark_runs_once_on_stored_pairs_and_keeps_no_labels(tmp_path, data,
                                                                           config, monkeypatch):
    import components.judge.throughput as throughput
    monkeypatch.setattr(throughput, "judge_and_measure",
                        lambda judge, requests: (judge.judge(requests), {"pairs_per_s": 1.0}))
    work = tmp_path / "work"
    item_ids = sorted(data.items)[:5]
    write_jsonl_atomic(work / "prepare" / "candidates.jsonl", [
        {"item_id": i, "keyphrase": "desk lamp", "query_id": None, "source": "retrieved"}
        for i in item_ids])
    write_jsonl_atomic(work / "prepare" / "clicks" / "clicks.jsonl", [])
    write_jsonl_atomic(work / "prepare" / "clicks" / "filtered.jsonl", [])
    config = replace(config, judge_model="counting", judge_esci_pairs=False, throughput_pairs=3)
    judge = _CountingJudge()
    label_candidates(judge, config, data, work, "rubric-v6")
    assert judge.judged[5:] == [(i, "desk lamp") for i in item_ids[2:]]  # the last 3 again
    bench = read_json(work / "judge" / "throughput.json")["benchmark"]
    assert bench["mean_abs_diff_vs_stored"] == 0.0 and "last 3" in bench["workload"]
    assert len(load_teacher_labels(work / "judge" / "teacher_labels.jsonl")) == 5
    again = _CountingJudge()
    label_candidates(again, config, data, work, "rubric-v6")
    assert again.judged == []  # labels and benchmark both kept from the first run


def test_the_lora_teacher_labels_the_train_queries_and_whole_keyphrases(data):
    from bench.cv.judging import lora_teacher_labels

    train = data.judgments[:7]
    ids = sorted(data.items)
    stored = ([_stored(ids[n], "desk lamp") for n in range(3)]
              + [_stored(ids[n], "oak shelf") for n in range(4)]
              + [_stored(ids[n], train[0].query, train[0].query_id) for n in range(2)])
    judge = _CountingJudge()
    labels = lora_teacher_labels(judge, data, train, stored, keyphrases=1,
                                 model_name="m+lora-fold0", seed=3)
    assert [(lab.item_id, lab.keyphrase, lab.query_id) for lab in labels[:7]] == \
        [(j.item_id, j.query, j.query_id) for j in train]
    broad = labels[7:]
    assert len({lab.keyphrase for lab in broad}) == 1  # one whole keyphrase, every pair of it
    kp = broad[0].keyphrase
    assert len(broad) == sum(lab.keyphrase == kp for lab in stored) and kp != train[0].query
    assert {lab.judge_model for lab in labels} == {"m+lora-fold0"}
    assert len(judge.judged) == len(labels)
    assert lora_teacher_labels(_CountingJudge(), data, train, stored, 0, "m")[7:] == []


def _stored(item_id, keyphrase, query_id=None):
    from components.judge.labels import TeacherLabel
    return TeacherLabel(item_id, keyphrase, query_id, "retrieved", "m", "rubric-v6", "ok",
                        {"E": 0.4, "S": 0.0, "C": 0.0, "I": 0.6}, 0.4, "I")


def test_lora_labels_replace_the_zero_shot_ones_pair_by_pair():
    from bench.cv.students import with_labels_of

    base = [_stored("a", "k"), _stored("b", "k"), _stored("c", "q", "7")]
    lora = [replace(_stored("b", "k"), p_relevant=0.9), replace(_stored("d", "q", "7"),
                                                                p_relevant=0.1)]
    merged = with_labels_of(base, lora)
    assert [(lab.item_id, lab.p_relevant) for lab in merged] == \
        [("a", 0.4), ("b", 0.9), ("c", 0.4), ("d", 0.1)]


def test_extra_variants_need_their_tasks_and_lora_variants_need_the_lora_teacher(config):
    with pytest.raises(ValueError, match="variant_student"):
        replace(config, variants=("click_only", "distilled_lora"))
    ok = replace(config, variants=("click_only", "distilled_lora"),
                 variant_student={"distilled_lora": {"tasks": ["clicks", "judge_query"]}})
    assert ok.tasks_for("distilled_lora") == ("clicks", "judge_query")
    with pytest.raises(ValueError, match="lora_teacher"):
        replace(ok, lora_variants=("distilled_lora",), lora_teacher=False)
    with pytest.raises(ValueError, match="not in variants"):
        replace(ok, lora=True, lora_teacher=True, lora_variants=("one_step_lora",))
    rounds = load_cv_config(CONFIG_DIR / "h200-lora-teacher.yaml")
    assert set(rounds.lora_variants) <= set(rounds.variants) and rounds.lora_teacher
    for v in rounds.lora_variants:  # the same recipe as the zero-shot teacher's variant
        assert rounds.student_for(v) == rounds.student_for(v.removesuffix("_lora"))
        assert rounds.tasks_for(v) == rounds.tasks_for(v.removesuffix("_lora"))
    # round 5 trains no LoRA: its LoRA rows are round 4's, and the ablation differs from
    # its baseline by the dimension task alone
    round5 = load_cv_config(CONFIG_DIR / "h200-round5.yaml")
    assert not round5.lora and round5.baseline_rows == ("judge_lora",)
    assert round5.tasks_for("distilled_mkd") == round5.tasks_for("distilled") + ("dimensions",)


class _DimensionJudge(_CountingJudge):
    """Also answers the dimension questions, recording which pairs were asked."""

    def __init__(self):
        super().__init__()
        self.asked: list[tuple[str, str]] = []

    def judge_dimensions(self, requests):
        from types import SimpleNamespace
        self.asked += [(r.item.item_id, r.keyphrase) for r in requests]
        return [SimpleNamespace(dimensions={"type": {"yes": 0.7, "no": 0.2, "na": 0.1}})
                for _ in requests]


def test_dimension_answers_join_the_esci_pairs_labels_once(tmp_path, data, config, monkeypatch):
    import components.judge.throughput as throughput
    monkeypatch.setattr(throughput, "judge_and_measure",
                        lambda judge, requests: (judge.judge(requests), {"pairs_per_s": 1.0}))
    work = tmp_path / "work"
    write_jsonl_atomic(work / "prepare" / "candidates.jsonl", [
        {"item_id": i, "keyphrase": "desk lamp", "query_id": None, "source": "retrieved"}
        for i in sorted(data.items)[:3]])
    write_jsonl_atomic(work / "prepare" / "clicks" / "clicks.jsonl", [])
    write_jsonl_atomic(work / "prepare" / "clicks" / "filtered.jsonl", [])
    config = replace(config, judge_model="counting", judge_esci_pairs=True, throughput_pairs=0,
                     judge_dimensions="esci")
    judge = _DimensionJudge()
    label_candidates(judge, config, data, work, "rubric-v6")
    labels = load_teacher_labels(work / "judge" / "teacher_labels.jsonl")
    assert len(judge.asked) == len(data.judgments)  # the ESCI pairs, not the keyphrase ones
    assert all((lab.dimensions is None) == (lab.query_id is None) for lab in labels)
    again = _DimensionJudge()
    label_candidates(again, config, data, work, "rubric-v6")
    assert again.asked == []  # the store kept them
    report = json.loads((work / "judge" / "dimensions.json").read_text())
    assert report["asked_now"] == len(judge.asked)  # the run that asked keeps its timing
    quality = report["quality"]  # the quality table covers every graded ESCI pair
    assert quality["n"] == len(data.judgments) and quality["n_fit"] + quality["n_eval"] == \
        quality["n"]
    assert quality["per_dimension"]["type"]["n"] == len(data.judgments)
    assert quality["per_dimension"]["brand"]["n"] == 0  # never answered: not read as "no"
    with pytest.raises(ValueError, match="judge_dimensions"):
        replace(config, judge_dimensions="some")


def test_compared_prompts_are_measured_but_never_chosen(tmp_path, data, config, monkeypatch):
    import bench.cv.judging as judging
    from bench.cv.common import make_splits, write_json

    work = tmp_path / "work"
    splits = make_splits(data.query_text, n_folds=3, seed=13, seed13=True)
    write_json(work / "prepare" / "splits.json", {n: s.to_dict() for n, s in splits.items()})

    class PromptJudge(_CountingJudge):
        def judge(self, requests):  # v6 ties every pair, v7 finds E∪S, v8 also E over S
            grade = {j.item_id + j.query: j.grade for j in data.judgments}
            weights = {"rubric-v6": (0.0, 0.0), "rubric-v7-exact": (0.2, 0.0),
                       "rubric-v8-shared": (0.2, 0.2)}[self.prompt_version]
            return [SoftLabel("ok", {"E": p, "S": 0.0, "C": 0.0, "I": 1 - p}) for p in
                    (0.5 + weights[0] * (g in "ES") + weights[1] * (g == "E")
                     for g in (grade[r.item.item_id + r.keyphrase] for r in requests))]

    monkeypatch.setattr(judging, "use_prompt",
                        lambda judge, prompt: setattr(judge, "prompt_version", prompt))
    config = replace(config, prompts=("rubric-v6", "rubric-v7-exact"),
                     compared_prompts=("rubric-v8-shared",))
    _, chosen = judging.compare_prompts(config, work, data, PromptJudge())
    report = read_json(work / "judge" / "prompts.json")
    assert set(report["reports"]) == {"rubric-v6", "rubric-v7-exact", "rubric-v8-shared"}
    assert report["reports"]["rubric-v8-shared"]["validation"]["ndcg@10"] > \
        report["reports"]["rubric-v7-exact"]["validation"]["ndcg@10"]
    best = max(config.prompts, key=lambda v: report["reports"][v]["validation"]["ndcg@10"])
    assert chosen == report["chosen"] == best  # the best of `prompts` only
    assert report["not_chosen_by_design"] == ["rubric-v8-shared"]
