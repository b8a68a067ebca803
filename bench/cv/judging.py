"""Stages ``judge`` and ``lora``: the LLM teacher, zero-shot and LoRA-calibrated.

``judge``: every rubric of ``config.prompts`` labels all judged ESCI pairs; the prompt with
the best nDCG@10 on the seed-13 split's validation queries labels the training candidates
(WANDS, mined and generated keyphrases) and the click log's pairs, with its pairs/s measured.
A run that finds an earlier run's choice and labels in its folder keeps them and judges only
the pairs that are new.
``lora``: per split, a LoRA of the judge on the split's train queries' human labels (epoch
chosen on its validation queries) scores the split's test queries.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from bench.cv.common import (
    Data,
    load_splits,
    log,
    lora_labels_path,
    per_query_metrics,
    read_json,
    write_json,
)
from bench.cv.config import CVConfig
from components.contracts import read_jsonl
from components.judge.backend import JudgeRequest
from components.judge.labels import TeacherLabel, load_teacher_labels, save_teacher_labels
from components.judge.rubric import DEFAULT_RUBRIC, RenderLimits, rubric_by_version

FULL_FIELDS_LIMITS = RenderLimits(bullet_points=300)


def load_judge(config: CVConfig, prompt: str):
    from components.judge.local import LocalJudge
    from components.judge.weights import judge_model_path

    model_dir = config.judge_dir or judge_model_path(
        config.judge_model, gguf_path=Path(config.judge_gguf) if config.judge_gguf else None)
    rubric = rubric_by_version(prompt)
    return LocalJudge(model_dir, config.judge_model, batch_size=config.judge_batch_size,
                      rubric=rubric, limits=limits_for(prompt),
                      min_grade_mass=config.judge_min_grade_mass,
                      item_prefix=config.judge_item_prefix and rubric.layout == "product_first")


def limits_for(prompt: str) -> RenderLimits:
    return FULL_FIELDS_LIMITS if "bullet_points" in rubric_by_version(prompt).fields \
        else RenderLimits()


def use_prompt(judge, prompt: str) -> None:
    """Switch a loaded judge to another rubric (the model stays)."""
    judge.use_rubric(rubric_by_version(prompt), limits_for(prompt))


def p_scores(labels) -> np.ndarray:
    """P(relevant) of each soft label; an unreadable answer ranks in the middle (0.5)."""
    return np.array([lab.p_relevant if lab.p_relevant is not None else 0.5 for lab in labels])


def judge_rankings(judge, data: Data, judgments) -> tuple[dict, np.ndarray, int]:
    requests = [JudgeRequest(data.items[j.item_id], j.query) for j in judgments]
    labels = judge.judge(requests)
    p = p_scores(labels)
    by_query: dict[str, dict[str, float]] = defaultdict(dict)
    for j, s in zip(judgments, p, strict=True):
        by_query[j.query_id][j.item_id] = float(s)
    unreadable = sum(lab.p_relevant is None for lab in labels)
    return per_query_metrics(by_query, judgments), p, unreadable


def _auc(p: np.ndarray, y: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def prompt_report(p: np.ndarray, judgments, per_query: dict, splits) -> dict:
    """AUCs (E∪S vs C∪I, E vs rest, E vs I) and nDCG@10 per split role of the seed-13 split."""
    grades = np.array([j.grade for j in judgments])
    qids = np.array([j.query_id for j in judgments])
    out = {}
    roles = {"all": set(qids)}
    if "seed13" in splits:
        roles.update({r: set(splits["seed13"].queries(r)) for r in ("train", "validation",
                                                                      "test")})
    for role, queries in roles.items():
        m = np.isin(qids, list(queries))
        ei = m & np.isin(grades, ["E", "I"])
        out[role] = {
            "auc_es_vs_ci": _auc(p[m], np.isin(grades[m], ["E", "S"]).astype(int)),
            "auc_e_vs_rest": _auc(p[m], (grades[m] == "E").astype(int)),
            "auc_e_vs_i": _auc(p[ei], (grades[ei] == "E").astype(int)),
            "ndcg@10": float(np.nanmean([per_query[q]["ndcg@10"] for q in queries
                                          if q in per_query])),
            "mean_p_by_grade": {g: float(p[m & (grades == g)].mean())
                                for g in "ESCI" if (m & (grades == g)).any()},
            "pairs": int(m.sum())}
    return out


def run_judge(config: CVConfig, work: Path, judge=None):
    """Compare the prompts (once: a run that has ``prompts.json`` keeps its choice), then
    label the candidates with the chosen one."""
    data = Data.load(config.max_queries)
    chosen_path = work / "judge" / "prompts.json"
    if chosen_path.exists():
        chosen = read_json(chosen_path)["chosen"]
        log(f"judge: prompt {chosen} chosen already ({chosen_path})")
        if judge is None:
            judge = load_judge(config, chosen)
    else:
        judge, chosen = compare_prompts(config, work, data, judge)
    use_prompt(judge, chosen)
    label_candidates(judge, config, data, work, chosen)
    return judge


def compare_prompts(config: CVConfig, work: Path, data: Data, judge=None):
    splits = load_splits(work)
    judgments = data.judgments
    reports, per_prompt = {}, {}
    for prompt in (*config.prompts, *config.compared_prompts):
        if judge is None:
            judge = load_judge(config, prompt)
        else:
            use_prompt(judge, prompt)
        start = time.perf_counter()
        per_query, p, unreadable = judge_rankings(judge, data, judgments)
        seconds = time.perf_counter() - start
        reports[prompt] = prompt_report(p, judgments, per_query, splits)
        reports[prompt].update({"unreadable": unreadable, "seconds": round(seconds, 2),
                                "pairs_per_s": round(len(judgments) / seconds, 1)})
        per_prompt[prompt] = per_query
        log(f"judge {prompt}: {reports[prompt].get('validation', reports[prompt]['all'])}")
    select_on = "validation" if "seed13" in splits else "all"
    chosen = max(config.prompts, key=lambda v: reports[v][select_on]["ndcg@10"])
    write_json(work / "judge" / "prompts.json", {"reports": reports, "chosen": chosen,
                                                 "chosen_on": f"seed13 {select_on} nDCG@10",
                                                 "not_chosen_by_design": list(
                                                     config.compared_prompts),
                                                 "per_query": per_prompt})
    return judge, chosen


def _click_pairs(work: Path, data: Data) -> list[dict]:
    """Every shown or filtered pair of the click log (ESCI queries; folds filter by query)."""
    rows, seen = [], set()
    for r in read_jsonl(work / "prepare" / "clicks" / "clicks.jsonl"):
        key = (r["item_id"], r["keyphrase"])
        if key not in seen:
            seen.add(key)
            rows.append({"item_id": r["item_id"], "keyphrase": r["keyphrase"],
                         "query_id": r["query_id"],
                         "source": "clicked" if r["clicks"] > 0 else "shown"})
    for r in read_jsonl(work / "prepare" / "clicks" / "filtered.jsonl"):
        text = data.query_text.get(r["query_id"])
        if text and (r["item_id"], text) not in seen:
            seen.add((r["item_id"], text))
            rows.append({"item_id": r["item_id"], "keyphrase": text, "query_id": r["query_id"],
                         "source": "filtered"})
    return rows


def _esci_pairs(data: Data, known: set[tuple[str, str]]) -> list[dict]:
    """Every judged ESCI pair not already a candidate (the folds keep their train queries')."""
    return [{"item_id": j.item_id, "keyphrase": j.query, "query_id": j.query_id,
             "source": "judged"} for j in data.judgments if (j.item_id, j.query) not in known]


def label_candidates(judge, config: CVConfig, data: Data, work: Path, prompt: str) -> None:
    """Label every candidate and click-log pair; labels already in the store (same judge and
    prompt, from an earlier run) are kept, and only the new pairs are judged and timed."""
    from components.judge.throughput import judge_and_measure

    store = work / "judge" / "teacher_labels.jsonl"
    rows = read_jsonl(work / "prepare" / "candidates.jsonl") + _click_pairs(work, data)
    if config.judge_esci_pairs:
        rows += _esci_pairs(data, {(r["item_id"], r["keyphrase"]) for r in rows})
    earlier = {}
    if store.exists():
        earlier = {(lab.item_id, lab.keyphrase): lab for lab in
                   load_teacher_labels(store, ok_only=False)
                   if lab.prompt_version == prompt and lab.judge_model == config.judge_model}
    todo = [r for r in rows if (r["item_id"], r["keyphrase"]) not in earlier]
    log(f"judging {len(todo)} candidate pairs with {prompt} ({len(rows) - len(todo)} labelled "
        "by an earlier run)")
    stats: dict = {}
    fresh: dict = {}
    if todo:
        requests = [JudgeRequest(data.items[r["item_id"]], r["keyphrase"]) for r in todo]
        labels, stats = judge_and_measure(judge, requests)
        fresh = {(r["item_id"], r["keyphrase"]): lab for r, lab in zip(todo, labels,
                                                                       strict=True)}
    teacher = []
    for r in rows:
        key = (r["item_id"], r["keyphrase"])
        if key in fresh:
            teacher.append(_teacher_label(r, config.judge_model, judge.prompt_version,
                                          fresh[key]))
        else:  # the earlier label, with this run's source and query of the pair
            teacher.append(replace(earlier[key], query_id=r["query_id"], source=r["source"]))
    save_teacher_labels(store, teacher)
    if config.judge_dimensions != "none":
        asked_before = sum(lab.dimensions is not None for lab in teacher)
        start = time.perf_counter()
        teacher = add_dimensions(judge, data, teacher, config.judge_dimensions, store)
        write_dimension_report(work, data, teacher, time.perf_counter() - start,
                               sum(lab.dimensions is not None for lab in teacher) - asked_before)
    by_source: dict[str, list[float]] = defaultdict(list)
    for lab in teacher:
        if lab.p_relevant is not None:
            by_source[lab.source].append(lab.p_relevant)
    old = read_json(work / "judge" / "throughput.json") if not todo and \
        (work / "judge" / "throughput.json").exists() else {}
    stats = {**old, **stats}
    stats.update({"prompt": prompt, "device": torch.cuda.get_device_name(0)
                  if torch.cuda.is_available() else "cpu",
                  "item_prefix": judge.item_prefix, "batch_size": judge.batch_size,
                  "pairs": len(teacher), "judged_now": len(todo),
                  "keyphrases": len({r["keyphrase"] for r in rows}),
                  "unreadable": sum(lab.status != "ok" for lab in teacher),
                  "by_source": {s: {"pairs": len(v), "mean_p": round(float(np.mean(v)), 4)}
                                for s, v in sorted(by_source.items())}})
    if config.throughput_pairs and "benchmark" not in stats:
        stats["benchmark"] = rejudge_benchmark(judge, data, teacher, config.throughput_pairs)
    write_json(work / "judge" / "throughput.json", stats)
    log(f"judge throughput: {stats['pairs_per_s']:.1f} pairs/s" if todo
        else "judge: every pair labelled by an earlier run")


def add_dimensions(judge, data: Data, labels: list[TeacherLabel], which: str, store: Path,
                   chunk: int = 20000) -> list[TeacherLabel]:
    """The judge's per-dimension answers (``judge.judge_dimensions``) for the labels of the
    judged ESCI queries (``which="esci"``: the pairs with a query id) or of every pair
    (``"all"``), saved into the store after every ``chunk`` pairs; labels that carry answers
    already (an earlier run) are kept as they are."""
    todo = [i for i, lab in enumerate(labels) if lab.dimensions is None and lab.status == "ok"
            and (which == "all" or lab.query_id is not None)]
    log(f"dimensions: {len(todo)} pairs to ask ({which})")
    rubric = getattr(judge, "rubric", None)
    if todo and rubric is not None and rubric.instruction:
        # the dimension questions need the plain system message (LocalJudge.judge_dimensions)
        use_prompt(judge, DEFAULT_RUBRIC.version)
        try:
            return add_dimensions(judge, data, labels, which, store, chunk)
        finally:
            use_prompt(judge, rubric.version)
    start = time.perf_counter()
    for first in range(0, len(todo), chunk):
        part = todo[first:first + chunk]
        answers = judge.judge_dimensions([JudgeRequest(data.items[labels[i].item_id],
                                                       labels[i].keyphrase) for i in part])
        for i, answer in zip(part, answers, strict=True):
            labels[i] = replace(labels[i], dimensions=answer.dimensions)
        save_teacher_labels(store, labels)
    if todo:
        seconds = time.perf_counter() - start
        log(f"dimensions: {len(todo)} pairs in {seconds:.0f} s ({len(todo) / seconds:.0f} "
            "pairs/s, every dimension's question a forward pass)")
    return labels


def write_dimension_report(work: Path, data: Data, labels: list[TeacherLabel], seconds: float,
                           asked_now: int) -> dict:
    """``judge/dimensions.json``: how the dimension answers of the judged ESCI pairs relate to
    their human grades (``components.judge.dimensions_bench.dimension_quality``: per-dimension
    AUC, type-and-brand agreement by grade, a logistic combination fitted on the seed-13
    split's train queries and scored on its validation and test queries), with the time the
    answers took in this run. An earlier run's timing is kept when nothing was asked now."""
    from components.data import split_queries
    from components.judge.dimensions import DEFAULT_DIMENSION_PROMPTS
    from components.judge.dimensions_bench import EVAL, FIT, dimension_quality

    grades = {(j.item_id, j.query_id): j.grade for j in data.judgments}
    train = set(split_queries(sorted(data.query_text)).queries("train"))
    rows = []
    for lab in labels:
        grade = grades.get((lab.item_id, lab.query_id))
        if grade is None or lab.dimensions is None:
            continue
        item = data.items[lab.item_id]
        rows.append({"role": FIT if lab.query_id in train else EVAL, "grade": grade,
                     "p_relevant": lab.p_relevant, "dimensions": lab.dimensions,
                     "query": lab.keyphrase, "title": item.title, "brand": item.brand,
                     "item_id": lab.item_id})
    path = work / "judge" / "dimensions.json"
    old = read_json(path) if path.exists() and not asked_now else {}
    timing = {"asked_now": asked_now, "seconds": round(seconds, 1),
              "pairs_per_s": round(asked_now / seconds, 1) if asked_now and seconds else None}
    report = {**old, **({} if old else timing),
              "dimension_version": DEFAULT_DIMENSION_PROMPTS.version,  # add_dimensions asks it
              "judge_model": next((lab.judge_model for lab in labels), None),
              "prompt_version": next((lab.prompt_version for lab in labels), None),
              "quality": dimension_quality(rows) if rows else None}
    write_json(path, report)
    return report


def rejudge_benchmark(judge, data: Data, stored: list[TeacherLabel], n: int) -> dict:
    """Throughput on ``n`` stored training-keyphrase pairs judged again (the last ``n`` of the
    store, so a fixed workload), and how far the new P(relevant) is from the stored one
    (batch composition moves bf16 results a little). The labels are not written back."""
    from components.judge.throughput import judge_and_measure

    rows = [lab for lab in stored if lab.query_id is None and lab.p_relevant is not None][-n:]
    if not rows:
        return {}
    requests = [JudgeRequest(data.items[lab.item_id], lab.keyphrase) for lab in rows]
    labels, stats = judge_and_measure(judge, requests)
    old = np.array([lab.p_relevant for lab in rows], dtype=float)
    new = np.array([lab.p_relevant if lab.p_relevant is not None else np.nan for lab in labels])
    stats.update({"max_abs_diff_vs_stored": float(np.nanmax(np.abs(old - new))),
                  "mean_abs_diff_vs_stored": float(np.nanmean(np.abs(old - new))),
                  "workload": f"the last {len(rows)} stored training-keyphrase pairs, judged again"})
    log(f"judge benchmark: {stats['pairs_per_s']:.1f} pairs/s on {len(rows)} pairs")
    return stats


def run_lora(config: CVConfig, work: Path, judge) -> None:
    from components.judge.lora import JudgeLoraConfig, train_judge_lora

    data = Data.load(config.max_queries)
    splits = load_splits(work)
    lora_config = JudgeLoraConfig(epochs=config.lora_epochs, batch_size=config.lora_batch_size,
                                  learning_rate=config.lora_learning_rate,
                                  max_length=config.lora_max_length)
    from bench.cv.students import trained_splits

    stored = None  # the zero-shot labels, read once when a LoRA judge teaches
    for name in trained_splits(config, work):
        split = splits[name]
        path = work / "lora" / f"{name}.json"
        labels_path = lora_labels_path(work, name)
        if path.exists() and (not config.lora_teacher or labels_path.exists()):
            continue
        train = data.judgments_of(split.queries("train"))
        val = data.judgments_of(split.queries("validation"))
        test = data.judgments_of(split.queries("test"))
        examples = [(JudgeRequest(data.items[j.item_id], j.query), j.grade) for j in train]

        def validate(val=val):
            pq, _, _ = judge_rankings(judge, data, val)
            return float(np.nanmean([v["ndcg@10"] for v in pq.values()]))

        start = time.perf_counter()
        stats = train_judge_lora(judge, examples, lora_config, validate=validate)
        per_query, _, unreadable = judge_rankings(judge, data, test)
        write_json(path, {"per_query": per_query, "train": stats.to_dict(),
                          "train_pairs": len(examples), "unreadable": unreadable,
                          "seconds": round(time.perf_counter() - start, 1),
                          "prompt": judge.prompt_version})
        log(f"lora {name}: test nDCG@10 "
            f"{np.nanmean([v['ndcg@10'] for v in per_query.values()]):.4f}")
        if config.lora_teacher:
            start = time.perf_counter()
            if stored is None:
                stored = load_teacher_labels(work / "judge" / "teacher_labels.jsonl")
            labels = lora_teacher_labels(judge, data, train, stored,
                                         config.lora_teacher_keyphrases,
                                         f"{config.judge_model}+lora-{name}", config.fold_seed)
            save_teacher_labels(labels_path, labels)
            log(f"lora {name}: {len(labels)} teacher labels in "
                f"{time.perf_counter() - start:.0f} s")
        judge.model = judge.model.unload()  # the base judge again for the next split
        judge._prefix_kv = None


def lora_teacher_labels(judge, data: Data, train_judgments, stored: list[TeacherLabel],
                        keyphrases: int, model_name: str, seed: int = 0) -> list[TeacherLabel]:
    """The fold's LoRA judge as a teacher: it labels every judged product of the fold's train
    queries (source ``judged``, with the query id) and every stored pair of ``keyphrases``
    training keyphrases (drawn with ``seed``; never an ESCI query). Whole keyphrases, so that
    a student's list of one keyphrase never mixes two judges' scales. Students of a
    ``lora_variants`` variant take these labels over the zero-shot ones for the same pairs."""
    rows = [{"item_id": j.item_id, "keyphrase": j.query, "query_id": j.query_id,
             "source": "judged"} for j in train_judgments]
    broad = [lab for lab in stored if lab.query_id is None]
    names = sorted({lab.keyphrase for lab in broad})
    if keyphrases and names:
        rng = np.random.default_rng(seed)
        chosen = {names[i] for i in rng.choice(len(names), size=min(keyphrases, len(names)),
                                               replace=False)}
        rows += [{"item_id": lab.item_id, "keyphrase": lab.keyphrase, "query_id": None,
                  "source": lab.source} for lab in broad if lab.keyphrase in chosen]
    answers = judge.judge([JudgeRequest(data.items[r["item_id"]], r["keyphrase"])
                           for r in rows])
    return [_teacher_label(r, model_name, judge.prompt_version, a)
            for r, a in zip(rows, answers, strict=True)]


def _teacher_label(row: dict, model_name: str, prompt_version: str, answer) -> TeacherLabel:
    """A candidate row (item_id, keyphrase, query_id, source) with the judge's soft label."""
    return TeacherLabel(row["item_id"], row["keyphrase"], row["query_id"], row["source"],
                        model_name, prompt_version, answer.status, answer.probs,
                        answer.p_relevant, answer.grade)
