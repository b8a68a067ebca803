"""The sections of a pipeline run's report, each built from what one or two steps wrote.

Every builder takes plain data (results JSON as dicts, teacher labels, training logs) and
returns a :class:`~components.evaluation.run_report.Section`; a builder whose input is
missing returns ``None`` and the section is left out.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np

from components.data.esci import Judgment
from components.data.keyphrases import normalize_keyphrase
from components.evaluation.evaluate import METRICS
from components.evaluation.relevance import Recommendation
from components.evaluation.run_report import Figure, Section, Table

SERVED_TITLE = "Served recommendations (Triton + gateway)"

GRADE_NAMES = {"E": "exact", "S": "substitute", "C": "complement", "I": "irrelevant"}


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def metrics_table(rows: Mapping[str, Mapping], caption: str = "") -> Table:
    return Table(["model", *METRICS],
                 [[name, *[row.get(m) for m in METRICS]] for name, row in rows.items()], caption)


def baselines_section(results: Mapping | None, split: str = "test") -> Section | None:
    if not results:
        return None
    rows = {name: entry[split] for name, entry in results.items() if split in entry}
    return Section("Baselines", [f"Human ESCI labels, {split} queries. nDCG@10 with ESCI gains; "
                                 "irrelevant_rate@10: share of each judged item's top-10 "
                                 "keyphrases from the universe that humans judged irrelevant."],
                   [metrics_table(rows, f"{split} queries")])


def _human_of_label(label, by_query: Mapping, by_text: Mapping) -> str:
    qid = getattr(label, "query_id", "") or ""
    if qid and (qid, label.item_id) in by_query:
        return by_query[(qid, label.item_id)]
    return by_text.get((normalize_keyphrase(label.keyphrase), label.item_id), "")


def judge_section(labels: Sequence, judgments: Sequence[Judgment]) -> Section | None:
    """The judge's P(relevant) against the human grade of the pairs ESCI judged."""
    from components.judge.quality import calibration_bins

    if not labels:
        return None
    by_query = {(j.query_id, j.item_id): j.grade for j in judgments}
    by_text = {(normalize_keyphrase(j.query), j.item_id): j.grade for j in judgments}
    pairs = [(lab.p_relevant, _human_of_label(lab, by_query, by_text)) for lab in labels]
    graded = [(p, h) for p, h in pairs if h]
    model = getattr(labels[0], "judge_model", "")
    notes = [f"Judge `{model}` labelled {len(labels)} pairs; {len(graded)} of them carry a human "
             "grade. Relevant = exact or substitute (E∪S)."]
    if len(graded) < 2:
        return Section("LLM judge vs human labels", notes)
    p = np.array([x for x, _ in graded])
    y = np.array([h in ("E", "S") for _, h in graded], dtype=int)
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
    table = Table(["pairs with a human grade", "share relevant (humans)", "mean judge P(rel)",
                   "AUC", "kappa at 0.5", "Brier"],
                  [[len(graded), float(y.mean()), float(p.mean()), auc,
                    float(cohen_kappa_score(y, (p >= 0.5).astype(int))),
                    float(np.mean((p - y) ** 2))]])
    by_grade = Table(["human grade", "pairs", "mean judge P(relevant)"],
                     [[f"{g} ({GRADE_NAMES[g]})", sum(h == g for _, h in graded),
                       float(np.mean([x for x, h in graded if h == g]))
                       if any(h == g for _, h in graded) else None] for g in "ESCI"])
    bins = calibration_bins(p, y, bins=5)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect")
    ax.plot([b["mean_p"] for b in bins], [b["frac_relevant"] for b in bins], "o-",
            label=f"{model or 'judge'}")
    for b in bins:
        ax.annotate(str(b["n"]), (b["mean_p"], b["frac_relevant"]), fontsize=7,
                    xytext=(3, 3), textcoords="offset points")
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="judge P(relevant)", ylabel="share E/S (humans)",
           title="Judge calibration (n per bin)")
    ax.legend(loc="upper left", fontsize=7)
    figure = Figure.from_png("judge_calibration", "Judge calibration against human labels",
                             _png(fig))
    return Section("LLM judge vs human labels", notes, [table, by_grade], [figure])


def assistant_section(rows: Mapping | None, agreement: Mapping | None) -> Section | None:
    if not rows and not agreement:
        return None
    tables = []
    if rows:
        tables.append(metrics_table({"cross_encoder (assistant)": rows}, "test queries"))
    if agreement:
        tables.append(Table(["AUC (E∪S vs C∪I)", "kappa", "threshold (validation)", "accuracy",
                             "pairs"],
                            [[agreement.get(k) for k in ("auc", "kappa", "threshold",
                                                         "accuracy", "pairs")]],
                            "assistant P(relevant) against human labels, test queries"))
    return Section("Cross-encoder (assistant)", ["Trained on the judge's soft labels; scored "
                                                 "on the human labels."], tables)


def students_section(results: Mapping[str, Mapping]) -> Section | None:
    rows = {key: row for res in results.values() for key, row in res.items()
            if key != "cross_encoder"}
    if not rows:
        return None
    return Section("Students (bi-encoders)", ["`distilled`: clicks + Search relevance + the "
                                              "assistant's scores + the judge's labels; "
                                              "`click_only`: clicks alone. `_256` etc.: the "
                                              "same embedding truncated (Matryoshka)."],
                   [metrics_table(rows, "test queries")])


def training_section(logs: Mapping[str, Mapping]) -> Section | None:
    """Loss per task and validation nDCG@10 per step, one panel per model."""
    logs = {name: log for name, log in logs.items() if log}
    if not logs:
        return None
    plt = _plt()
    fig, axes = plt.subplots(1, len(logs), figsize=(4.2 * len(logs), 3.4), squeeze=False)
    rows = []
    for ax, (name, log) in zip(axes[0], logs.items(), strict=True):
        raw = log.get("losses") or {}
        raw = raw if isinstance(raw, dict) else {"loss": raw}
        # [[step, loss], ...]; a bare list of losses is read as steps 1, 2, ...
        losses = {task: [p if isinstance(p, list | tuple) else [i + 1, p]
                         for i, p in enumerate(points)]
                  for task, points in raw.items() if points}
        for task, points in losses.items():
            steps, values = zip(*points, strict=True)
            ax.plot(steps, values, lw=1, marker="." if len(points) < 40 else None,
                    label=f"{task} loss")
        ax.set(title=name, xlabel="step", ylabel="loss")
        validation = log.get("validation") or []
        if validation:
            ax2 = ax.twinx()
            ax2.plot([s for s, _ in validation], [v for _, v in validation], "ks--", ms=4,
                     label="validation nDCG@10")
            ax2.set_ylabel("validation nDCG@10")
            ax2.legend(loc="upper right", fontsize=7)
        ax.legend(loc="upper left", fontsize=7)
        rows.append([name, max((p[-1][0] for p in losses.values()), default=0),
                     ", ".join(f"{t} {p[-1][1]:.3f}" for t, p in losses.items()),
                     max((v for _, v in validation), default=None)])
    figure = Figure.from_png("training_curves", "Training loss per step (per task) and "
                             "validation nDCG@10 where evaluated", _png(fig))
    return Section("Training curves", [], [Table(["model", "steps", "final loss",
                                                  "best validation nDCG@10"], rows)], [figure])


def matryoshka_section(results: Mapping[str, Mapping], baselines: Mapping | None,
                       name: str = "distilled", split: str = "test",
                       full_dim: int = 384) -> Section | None:
    """``results[name]`` holds ``name`` (full dimension) and ``name_<dim>`` rows."""
    rows = results.get(name) or {}
    points = sorted((full_dim if key == name else int(key.rsplit("_", 1)[1]), row["ndcg@10"])
                    for key, row in rows.items()
                    if key == name or key.removeprefix(f"{name}_").isdigit())
    if not points:
        return None
    dims = [d for d, _ in points]
    values = [v for _, v in points]
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    ax.plot(dims, values, "o-", label=name)
    for other, res in results.items():
        if other != name and other in res:
            ax.axhline(res[other]["ndcg@10"], color="gray", ls=":", lw=1,
                       label=f"{other} (full dim)")
    for base, entry in (baselines or {}).items():
        if "zero_shot" in base and split in entry:
            ax.axhline(entry[split]["ndcg@10"], color="tab:green", ls="--", lw=1,
                       label=f"{base}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(set(dims)), [str(d) for d in sorted(set(dims))])
    ax.set(xlabel="embedding dimensions", ylabel=f"nDCG@10 ({split})",
           title="Matryoshka: quality vs embedding size")
    ax.legend(fontsize=7)
    figure = Figure.from_png("matryoshka", "nDCG@10 of the student's embedding truncated to "
                             "fewer dimensions", _png(fig))
    table = Table(["dimensions", "nDCG@10"], [[d, v] for d, v in points])
    return Section("Matryoshka embeddings", [], [table], [figure])


def recommendations_section(recs: Sequence[Recommendation], titles: Mapping[str, str],
                            rate: Mapping | None, title: str, notes: Sequence[str] = (),
                            per_item: int = 8, max_items: int = 6) -> Section | None:
    if not recs:
        return None
    tables = []
    shown = list(dict.fromkeys(r.item_id for r in recs))[:max_items]
    for item_id in shown:
        rows = [[r.rank, r.keyphrase, r.source, r.student_score, r.rater_p,
                 r.human_grade or "—"] for r in recs if r.item_id == item_id][:per_item]
        tables.append(Table(["rank", "keyphrase", "source", "student cosine",
                             "assistant P(relevant)", "human grade"], rows,
                            f"{item_id}: {titles.get(item_id, '')[:110]}"))
    notes = list(notes)
    if rate and rate.get("rate") is not None:
        by_source = ", ".join(f"{s} {v['rate']:.0%} of {v['pairs']}"
                              for s, v in rate["by_source"].items())
        notes.append(f"Assistant rates {rate['rate']:.0%} of the top-{per_item} relevant "
                     f"(P ≥ {rate['threshold']}) over {rate['items']} test-split items "
                     f"({rate['pairs']} pairs; by source: {by_source}).")
    return Section(title, notes, tables)


def served_section(served: Mapping) -> Section:
    """The answers the gateway gave (``bench.serving.demo --out``), with human grades."""

    tables = []
    for answer in served.get("answers", []):
        rows = [[kp["rank"], kp["text"], kp["source"], kp["bi_encoder_score"],
                 kp["human_grade"] or "—"] for kp in answer["keyphrases"]]
        tables.append(Table(["rank", "keyphrase", "source", "student cosine", "human grade"],
                            rows, f"{answer['item_id']}: {answer['title'][:110]} "
                                  f"({answer.get('category') or '-'}; "
                                  f"{answer.get('total_ms', 0):.0f} ms)"))
    graded = [kp for a in served.get("answers", []) for kp in a["keyphrases"]
              if kp["human_grade"]]
    notes = [f"Recommend over gRPC, {served.get('k', 8)} keyphrases per item, "
             f"{'re-ranked by the cross-encoder' if served.get('rerank') else 'in bi-encoder order'}"
             f"; {len(graded)} of the served pairs carry a human grade."]
    return Section(SERVED_TITLE, notes, tables)
