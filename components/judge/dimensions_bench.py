"""The judge's per-dimension answers against the human ESCI grades.

    python -m components.judge.dimensions_bench --model qwen2.5-coder-1.5b-instruct \\
        --per-grade 100 --out docs/results

On a sample of human-judged pairs (``--per-grade`` of each ESCI grade from the train queries
of the seed-13 split, as many from the validation and test queries), the judge gives its
single-question grade (the config's rubric) and its answers to the dimension questions
(``--dimension-version``). Reported (``dimension_quality``):

- per dimension: the mean P(yes) / P(no) / P(not mentioned) by human grade, the share of
  each hard answer, and the AUC of 1 - P(no) for relevant (E∪S) against C∪I;
- the share of pairs of each grade whose *type and brand both match* (the hard answer of
  each is not "no": yes, or the query names none);
- the AUC on validation + test queries of a logistic combination of the dimensions (features
  P(yes) and P(no) of each dimension, an unreadable one as 0 and 0), fitted on the train
  queries' pairs, against the single-question P(relevant) on the same pairs, and of the
  dimensions plus P(relevant);
- for each dimension a few real pairs where the judge is surest of "no" and of "yes".

Writes ``judge_dimensions.json`` and ``judge_dimensions.md`` into ``--out`` (default: the
artifacts folder), each naming the command that made it; where ``--out`` holds the judge
benchmark's ``judge.json`` (``--out docs/results``), a summary row joins it and its
``judge.md``. A run on the CPU is labelled a wiring check, not a measurement: the small
judge on a few dozen pairs says nothing about the dimensions' quality. Judgments go through
the resumable store (``--store``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from components.judge.dimensions import ANSWERS, DIMENSIONS, hard_answer
from components.judge.reading import RELEVANT
from components.judge.rubric import GRADES

FIT, EVAL = "fit", "eval"


def _auc(y: np.ndarray, score: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score
    return float(roc_auc_score(y, score)) if 0 < y.sum() < len(y) else None


def _features(dimensions: dict | None) -> list[float]:
    out = []
    for d in DIMENSIONS:
        probs = (dimensions or {}).get(d)
        out += [probs["yes"], probs["no"]] if probs else [0.0, 0.0]
    return out


def _matches(dimensions: dict | None, name: str) -> bool | None:
    answer = hard_answer((dimensions or {}).get(name))
    return None if answer is None else answer != "no"


def dimension_quality(rows: Sequence[dict], examples: int = 2) -> dict:
    """Quality of the dimension answers against human grades.

    ``rows``: one dict per pair with ``role`` ("fit": train queries, "eval": validation and
    test queries), ``grade`` (human E/S/C/I), ``p_relevant`` (the single question's, None if
    unreadable), ``dimensions`` (the contract value) and, for the examples, ``query``,
    ``title``, ``brand``, ``item_id``.
    """
    if not rows:
        raise ValueError("no pairs to measure")
    bad = sorted({r["grade"] for r in rows} - set(GRADES))
    if bad:
        raise ValueError(f"human grades must be among {GRADES}, got {bad}")
    out: dict = {"n": len(rows), "n_fit": sum(r["role"] == FIT for r in rows),
                 "n_eval": sum(r["role"] == EVAL for r in rows),
                 "n_with_dimensions": sum(r["dimensions"] is not None for r in rows),
                 "human_grades": {g: sum(r["grade"] == g for r in rows) for g in GRADES}}
    per_dim = {}
    for d in DIMENSIONS:
        read = [(r, r["dimensions"][d]) for r in rows
                if r["dimensions"] and r["dimensions"].get(d)]
        entry: dict = {"n": len(read), "unreadable": len(rows) - len(read)}
        for a in ANSWERS:
            entry[f"mean_{a}_by_grade"] = {
                g: (float(np.mean([p[a] for r, p in read if r["grade"] == g]))
                    if any(r["grade"] == g for r, _ in read) else None) for g in GRADES}
        entry["answer_share"] = {a: (sum(hard_answer(p) == a for _, p in read) / len(read)
                                     if read else None) for a in ANSWERS}
        if read:
            y = np.array([r["grade"] in RELEVANT for r, _ in read], dtype=int)
            entry["auc_not_no"] = _auc(y, np.array([1.0 - p["no"] for _, p in read]))
        per_dim[d] = entry
    out["per_dimension"] = per_dim

    both = {}
    for g in GRADES:
        flags = [(_matches(r["dimensions"], "type"), _matches(r["dimensions"], "brand"))
                 for r in rows if r["grade"] == g]
        flags = [t and b for t, b in flags if t is not None and b is not None]
        both[g] = {"n": len(flags), "share": (sum(flags) / len(flags)) if flags else None}
    out["type_and_brand_match_by_grade"] = both
    out["combination"] = _combination(rows)
    out["examples"] = _examples(rows, examples)
    return out


def _combination(rows: Sequence[dict]) -> dict:
    """Logistic combinations fitted on the fit rows, AUC on the eval rows that have both a
    readable grade and dimensions (the same pairs for every score)."""
    from sklearn.linear_model import LogisticRegression

    usable = [r for r in rows if r["dimensions"] is not None and r["p_relevant"] is not None]
    fit = [r for r in usable if r["role"] == FIT]
    ev = [r for r in usable if r["role"] == EVAL]
    out: dict = {"n_fit": len(fit), "n_eval": len(ev)}
    y_fit = np.array([r["grade"] in RELEVANT for r in fit], dtype=int)
    y_ev = np.array([r["grade"] in RELEVANT for r in ev], dtype=int)
    if not ev or not 0 < y_ev.sum() < len(y_ev):
        out["note"] = "the eval pairs hold one class only: no AUC"
        return out
    out["auc_single_question"] = _auc(y_ev, np.array([r["p_relevant"] for r in ev]))
    if not 0 < y_fit.sum() < len(y_fit):
        out["note"] = "the fit pairs hold one class only: no logistic fit"
        return out
    for name, feats in (("auc_dimensions_logistic", lambda r: _features(r["dimensions"])),
                        ("auc_dimensions_plus_single_logistic",
                         lambda r: [*_features(r["dimensions"]), r["p_relevant"]])):
        model = LogisticRegression(C=1.0, max_iter=2000)
        model.fit(np.array([feats(r) for r in fit]), y_fit)
        out[name] = _auc(y_ev, model.predict_proba(np.array([feats(r) for r in ev]))[:, 1])
    out["model"] = "sklearn LogisticRegression(C=1.0); features P(yes), P(no) per dimension"
    return out


def _examples(rows: Sequence[dict], k: int) -> dict:
    out = {}
    for d in DIMENSIONS:
        read = [r for r in rows if r["dimensions"] and r["dimensions"].get(d)]
        picks = []
        for answer in ("no", "yes"):
            ranked = sorted(read, key=lambda r, a=answer: -r["dimensions"][d][a])
            for r in ranked[:k]:
                picks.append({"answer": answer, "query": r.get("query"),
                              "title": r.get("title"), "brand": r.get("brand"),
                              "item_id": r.get("item_id"), "human_grade": r["grade"],
                              "probs": {a: round(v, 3) for a, v in r["dimensions"][d].items()}})
        out[d] = picks
    return out


def _f(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def markdown(result: dict) -> str:
    q = result["quality"]
    lines = [f"# Judge dimensions: {result['judge_model']} @ {result['dimension_version']}"
             + (f" ({result['what']})" if result.get("what") else ""), "",
             f"Command: `{result['command']}`  ", f"Hardware: {result['hardware']}; "
             f"{q['n']} pairs ({q['n_fit']} from train queries, {q['n_eval']} from validation "
             f"and test); {result['seconds']:.0f} s for "
             + (f"the {result['judged_now']['grades']} grades and "
                if result['judged_now'].get('grades') else "")
             + f"{result['judged_now']['dimensions']} pairs' dimensions judged in this run "
             "(the rest came from the store).", "",
             "| dimension | AUC 1-P(no) | P(yes) E | P(yes) I | P(no) E | P(no) I | "
             "P(na) E | share yes/no/na | unreadable |", "|---|---|---|---|---|---|---|---|---|"]
    for d, e in q["per_dimension"].items():
        share = "/".join(_f(e["answer_share"][a], 2) for a in ANSWERS)
        lines.append(f"| {d} | {_f(e.get('auc_not_no'))} | {_f(e['mean_yes_by_grade']['E'])} "
                     f"| {_f(e['mean_yes_by_grade']['I'])} | {_f(e['mean_no_by_grade']['E'])} "
                     f"| {_f(e['mean_no_by_grade']['I'])} | {_f(e['mean_na_by_grade']['E'])} "
                     f"| {share} | {e['unreadable']} |")
    both = q["type_and_brand_match_by_grade"]
    lines += ["", "Type and brand both match (hard answer not \"no\"), share by human grade: "
              + ", ".join(f"{g} {_f(v['share'], 2)} (n={v['n']})" for g, v in both.items()), ""]
    c = q["combination"]
    lines += [f"On validation + test pairs (n={c['n_eval']}; fitted on {c['n_fit']} train "
              f"pairs): AUC single question {_f(c.get('auc_single_question'))}, logistic of "
              f"the dimensions {_f(c.get('auc_dimensions_logistic'))}, dimensions + single "
              f"question {_f(c.get('auc_dimensions_plus_single_logistic'))}."
              + (f" ({c['note']})" if c.get("note") else ""), "", "Examples:", ""]
    for d, picks in q["examples"].items():
        for p in picks:
            lines.append(f"- {d}, surest \"{p['answer']}\" {p['probs']}: query "
                         f"\"{p['query']}\", product \"{(p['title'] or '')[:90]}\" "
                         f"(brand {p['brand'] or '–'}), human {p['human_grade']}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from components.data import load_items, load_judgments, split_queries
    from components.judge.bench import hardware
    from components.judge.candidates import eval_sample
    from components.judge.config import load_config
    from components.judge.local import LocalJudge
    from components.judge.pairs import CandidatePair
    from components.judge.run import judge_candidates, teacher_labels
    from components.judge.store import JudgmentStore
    from components.settings import artifacts_dir

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default=None, help="judge config (default judge.yaml)")
    parser.add_argument("--model", default=None, help="judge model name (overrides config)")
    parser.add_argument("--model-dir", default=None)
    parser.add_argument("--rubric-version", default=None,
                        help="the single question's rubric (default: the config's)")
    parser.add_argument("--dimension-version", default=None)
    parser.add_argument("--per-grade", type=int, default=50,
                        help="pairs of each grade from train queries, as many from validation"
                             " + test")
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--seed", type=int, default=13, help="the query split's and sample's")
    parser.add_argument("--examples", type=int, default=2)
    parser.add_argument("--store", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.per_grade < 1:
        parser.error("--per-grade must be >= 1")
    command = "python -m components.judge.dimensions_bench " + shlex.join(
        list(argv) if argv is not None else sys.argv[1:])
    config = load_config(args.config, model=args.model, model_dir=args.model_dir,
                         rubric_version=args.rubric_version, batch_size=args.batch_size,
                         device=args.device, dimensions=True,
                         dimension_version=args.dimension_version)
    items, judgments = load_items(), load_judgments()
    split = split_queries(sorted({j.query_id for j in judgments}))
    sample = [(FIT, j) for j in eval_sample(judgments, split, args.per_grade, args.seed,
                                            splits=("train",))]
    sample += [(EVAL, j) for j in eval_sample(judgments, split, args.per_grade, args.seed,
                                              splits=("validation", "test"))]
    pairs = [CandidatePair(j.item_id, j.query, j.query_id, "eval") for _, j in sample]
    store_path = (Path(args.store) if args.store
                  else artifacts_dir() / "judge" / "dimensions_bench.sqlite")
    backend = LocalJudge.from_config(config)
    start = time.perf_counter()
    with JudgmentStore(store_path) as store:
        stats = judge_candidates(pairs, items, backend, store, config.chunk_size,
                                 dimension_prompts=config.dimension_prompts())
        labels = {(lab.item_id, lab.keyphrase): lab
                  for lab in teacher_labels(pairs, store, backend.model_name,
                                            backend.prompt_version, config.dimension_version)}
    seconds = time.perf_counter() - start
    rows = []
    for role, j in sample:
        label = labels[(j.item_id, j.query)]
        item = items[j.item_id]
        rows.append({"role": role, "grade": j.grade, "p_relevant": label.p_relevant,
                     "dimensions": label.dimensions, "query": j.query, "title": item.title,
                     "brand": item.brand, "item_id": j.item_id})
    result = {"command": command, "hardware": hardware(), "judge_model": backend.model_name,
              "prompt_version": backend.prompt_version,
              "dimension_version": config.dimension_version, "seed": args.seed,
              "per_grade": args.per_grade, "seconds": round(seconds, 1),
              "judged_now": {"grades": stats.judged, "dimensions": stats.dimensions_judged},
              "quality": dimension_quality(rows, args.examples)}
    on_cpu = backend.device.type == "cpu"
    result["what"] = (f"CPU wiring check ({len(pairs)} pairs): not a measurement" if on_cpu
                      else f"measurement ({len(pairs)} pairs)")
    out = Path(args.out) if args.out else artifacts_dir() / "judge" / "dimensions"
    out.mkdir(parents=True, exist_ok=True)
    if (out / "judge.json").is_file():
        from components.judge.report import merge_results, write_markdown
        data = json.loads((out / "judge.json").read_text())
        dims = data.get("dimensions", {})
        dims[f"{backend.model_name}@{config.dimension_version}"] = {
            "what": result["what"], "hardware": result["hardware"], "command": command,
            "combination": result["quality"]["combination"],
            "type_and_brand_match_by_grade": result["quality"]["type_and_brand_match_by_grade"]}
        write_markdown(out / "judge.md", merge_results(out / "judge.json", {},
                                                       {"dimensions": dims}))
    (out / "judge_dimensions.json").write_text(json.dumps(result, indent=1) + "\n")
    (out / "judge_dimensions.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
