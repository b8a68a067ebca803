"""Do the demo's recommendations make sense? The share of each test-split item's top 8 that a
rater calls relevant, for the keyphrase universe before and after the mined phrases.

    python -m bench.relevance --student RUN/train-bi-encoder/student \\
        --assistant RUN/train-cross-encoder/model [--items 100] [--judge-items 12] \\
        [--judge-model qwen2.5-coder-1.5b-instruct] [--calibration-pairs 96] [--out docs/results]

"before": the ESCI and WANDS queries (630 phrases, 480 of them WANDS furniture queries);
"after": the same plus the catalogue-mined phrases the pipeline adds (``--mined``). The same
student retrieves from both; two raters score every recommended pair: the assistant
cross-encoder given and, on ``--judge-items`` of the items, the local LLM judge
(``--judge-model``, default ``components/judge/judge.yaml``'s, on this machine).

A rater calls a pair relevant when its P(relevant) reaches the rater's own threshold, chosen
on human-labelled ESCI pairs of the *train* split (never the test-split items measured): the
cut with the best balanced accuracy of E∪S against C∪I
(``components.evaluation.relevance.separating_threshold``). The assistant is calibrated on
every train pair; the judge, slower, on ``--calibration-pairs`` of them (half E∪S, half C∪I,
each half drawn uniformly, seed 13). The human-graded share of the recommended pairs ESCI
judged is reported beside. Writes ``relevance.json`` and ``relevance.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

from components.data.bundle import DataBundle
from components.data.esci import Judgment
from components.data.keyphrases import build_keyphrase_universe
from components.data.mining import mined_universe
from components.data.wands import load_wands_queries
from components.evaluation.relevance import (
    ITEM_FIELDS,
    RaterThreshold,
    Recommendation,
    human_grades,
    rated_recommendations,
    recommend,
    relevance_rate,
    sample_items,
    separating_threshold,
)

RELEVANT = ("E", "S")
SEED = 13


class JudgeRater:
    """The local LLM judge as a pair scorer over items (not item texts); each distinct
    (item, keyphrase) pair is judged once, and with ``cache`` (a JSONL file) once across
    runs: a slow CPU run can be resumed, or its calibration pairs judged ahead."""

    def __init__(self, items, model: str | None = None, cache: Path | None = None):
        from components.judge.config import load_config
        from components.judge.local import LocalJudge

        self.items = items
        config = load_config(**({"model": model} if model else {}))
        self.judge = LocalJudge.from_config(config)
        self.model = self.judge.model_name
        self.cache = cache
        self.seen: dict[tuple[str, str], float] = {}
        if cache is not None and cache.is_file():
            for line in cache.read_text().splitlines():
                row = json.loads(line)
                if row["model"] == self.model:
                    self.seen[(row["item_id"], row["keyphrase"])] = float(row["p"])
        self.seconds = 0.0
        self.judged = 0

    def rate_pairs(self, pairs: list[tuple[str, str]]) -> list[float]:
        """P(relevant) of (item id, keyphrase) pairs; NaN where the answer was unreadable."""
        from components.judge.backend import JudgeRequest

        new = list(dict.fromkeys(p for p in pairs if p not in self.seen))
        start = time.perf_counter()
        labels = self.judge.judge([JudgeRequest(self.items[i], kp) for i, kp in new])
        self.seconds += time.perf_counter() - start
        self.judged += len(new)
        for pair, lab in zip(new, labels, strict=True):
            self.seen[pair] = lab.p_relevant if lab.status == "ok" else float("nan")
        if self.cache is not None and new:
            with open(self.cache, "a") as fh:
                for item_id, keyphrase in new:
                    fh.write(json.dumps({"model": self.model, "item_id": item_id,
                                         "keyphrase": keyphrase,
                                         "p": self.seen[(item_id, keyphrase)]}) + "\n")
        return [self.seen[p] for p in pairs]

    def rate(self, recs: list[Recommendation]) -> list[float]:
        return self.rate_pairs([(r.item_id, r.keyphrase) for r in recs])


def calibration_sample(judgments: list[Judgment], n: int, seed: int = SEED) -> list[Judgment]:
    """``n`` pairs, half E∪S and half C∪I, each half drawn uniformly (so E:S and C:I keep the
    split's own mix); all pairs when ``n`` is 0 or covers them."""
    if n <= 0 or n >= len(judgments):
        return list(judgments)
    rng = np.random.default_rng(seed)
    out = []
    for wanted, pool in ((n // 2, [j for j in judgments if j.grade in RELEVANT]),
                         (n - n // 2, [j for j in judgments if j.grade not in RELEVANT])):
        out += [pool[i] for i in sorted(rng.choice(len(pool), min(wanted, len(pool)),
                                                   replace=False))]
    return out


def calibrate(p: list[float], pairs: list[Judgment], chosen_on: str) -> RaterThreshold:
    keep = [i for i, v in enumerate(p) if not np.isnan(v)]
    return separating_threshold([p[i] for i in keep],
                                [pairs[i].grade in RELEVANT for i in keep], chosen_on)


def universes(bundle: DataBundle, mined: int) -> dict:
    base = build_keyphrase_universe(bundle.judgments, load_wands_queries())
    phrases = mined_universe(bundle.items, exclude={j.query for j in bundle.judgments},
                             limit=mined)
    return {"before": base,
            "after": build_keyphrase_universe(bundle.judgments, load_wands_queries(), phrases)}


def machine() -> str:
    """Where the raters ran: the GPU when torch sees one (the judge and assistant use it)."""
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)} ({os.cpu_count()} CPU cores)"
    return f"{platform.machine()} CPU, {os.cpu_count()} cores"


def measured_items(bundle: DataBundle, n_items: int) -> list[str]:
    return sample_items(bundle.items, bundle.judgments, bundle.split.queries("test"), n_items)


def train_pairs(bundle: DataBundle, measured: list[str]) -> list[Judgment]:
    """ESCI train-split pairs of items not being measured (the thresholds' ground)."""
    skip = set(measured)
    return [j for j in bundle.judgments_in("train")
            if j.item_id in bundle.items and j.item_id not in skip]


def measure(student: Path, assistant: Path, n_items: int, judge_items: int, k: int,
            mined: int, judge_model: str | None = None, calibration_pairs: int = 96,
            judge_cache: Path | None = None) -> dict:
    from components.baselines.rankers import EncoderRanker
    from components.training.cross_encoder import CrossEncoderScorer

    bundle = DataBundle.from_raw()
    item_ids = measured_items(bundle, n_items)
    encoder = EncoderRanker(student, "student")
    scorer = CrossEncoderScorer.load(assistant, batch_size=64)
    grades = human_grades(bundle.judgments)
    train = train_pairs(bundle, item_ids)  # no item being measured helps choose a threshold
    p_train = scorer.score_pairs([j.query for j in train],
                                 [bundle.items[j.item_id].text(ITEM_FIELDS) for j in train])
    assistant_cut = calibrate([float(v) for v in p_train], train,
                              f"all {len(train)} ESCI train-split pairs of items not measured")
    judge = JudgeRater(bundle.items, judge_model, judge_cache) if judge_items else None
    judge_cut = None
    if judge is not None:
        sample = calibration_sample(train, calibration_pairs)
        judge_cut = calibrate(judge.rate_pairs([(j.item_id, j.query) for j in sample]), sample,
                              f"{len(sample)} ESCI train-split pairs of items not measured "
                              f"(half E∪S, half C∪I, seed {SEED})")
    judged_ids = set(sample_items({i: bundle.items[i] for i in item_ids}, bundle.judgments,
                                  bundle.split.queries("test"), judge_items)) if judge else set()
    out = {"student": "/".join(student.parts[-2:]), "assistant": "/".join(assistant.parts[-2:]),
           "k": k, "items": n_items, "judge_items": len(judged_ids), "mined": mined,
           "machine": machine(), "universes": {}, "examples": {}}
    for name, universe in universes(bundle, mined).items():
        recs = rated_recommendations(recommend(encoder, bundle.items, item_ids, universe, k),
                                     scorer, bundle.items, grades)
        entry = {"keyphrases": len(universe),
                 "by_source": {s: sum(kp.source == s for kp in universe)
                               for s in ("esci", "wands", "mined")},
                 "assistant": {**relevance_rate(recs, assistant_cut),
                               "rate_at_0.5": relevance_rate(recs)["rate"]}}
        if judge is not None:
            subset = [r for r in recs if r.item_id in judged_ids]
            p_judge = judge.rate(subset)
            judged = [Recommendation(**{**r.to_dict(), "rater_p": p})
                      for r, p in zip(subset, p_judge, strict=True) if not np.isnan(p)]
            entry["judge"] = {**relevance_rate(judged, judge_cut),
                              "rate_at_0.5": relevance_rate(judged)["rate"],
                              "model": judge.model}
        out["universes"][name] = entry
        out["examples"][name] = [r.to_dict() for r in recs if r.item_id in item_ids[:4]]
    if judge is not None:
        out["judge_seconds"] = round(judge.seconds, 1)
        out["judge_pairs"] = judge.judged
    return out


def _pct(x) -> str:
    return "—" if x is None else f"{x:.0%}"


def _rate_cell(r: dict) -> str:
    lo, hi = r["rate_interval"]
    cell = f"**{r['rate']:.0%}** [{lo:.0%}, {hi:.0%}] of {r['pairs']}"
    return cell + f"; corrected {_pct(r.get('estimated_relevant_share'))}"


def _cut_row(rater: str, r: dict) -> str:
    c = r["calibration"]
    return (f"| {rater} | {c['threshold']:.3f} | {c['chosen_on']} | {c['auc']:.3f} | "
            f"{c['tpr']:.0%} | {c['fpr']:.0%} | {c['youden_j']:.2f} |")


def markdown(result: dict, command: str) -> str:
    rows = []
    for name, u in result["universes"].items():
        a, j = u["assistant"], u.get("judge")
        rows.append(f"| {name} | {u['keyphrases']:,} ({u['by_source']['esci']} ESCI, "
                    f"{u['by_source']['wands']} WANDS, {u['by_source']['mined']:,} mined) | "
                    f"{_rate_cell(a)} | " + (f"{_rate_cell(j)} | " if j else "— | ")
                    + f"{_pct(a['human_relevant_share'])} of {a['human_graded_pairs']}"
                    + (f" ({_pct(j['human_relevant_share'])} of {j['human_graded_pairs']} "
                       "judged)" if j else "") + " |")
    first = next(iter(result["universes"].values()))
    judge = first.get("judge")
    cuts = [_cut_row(f"assistant (`{result['assistant']}`)", first["assistant"])]
    if judge:
        cuts.append(_cut_row(f"judge `{judge['model']}`", judge))
    lines = [
        "# Do the recommendations make sense?", "",
        f"Top {result['k']} keyphrases of {result['items']} test-split items (seed-13 split), "
        "one student, two keyphrase universes: the share a rater calls relevant, each rater at "
        "its own threshold on P(relevant), chosen on human-labelled ESCI pairs of the train "
        "split (the cut with the best balanced accuracy of E∪S against C∪I; never the items "
        f"measured). The judge rated {result['judge_items']} of the items"
        + (f" (this run judged {result['judge_pairs']} distinct pairs, calibration pairs "
           f"included unless cached, in {result['judge_seconds']:.0f} s on a "
           f"{result['machine']})"
           if "judge_seconds" in result else "") + ".", "",
        "| universe | keyphrases | assistant rates relevant | judge rates relevant | "
        "humans grade E or S (recommended pairs ESCI judged) |", "|---|---|---|---|---|",
        *rows, "",
        "Rates: the share at the threshold, its 95% Wilson interval, and the share corrected "
        "for the rater's errors at that threshold on the train pairs ((rate − FPR) / (TPR − "
        "FPR), assuming they carry over; — where the threshold does not separate).", "",
        "| rater | threshold | chosen on | AUC E∪S vs C∪I | TPR | FPR | Youden's J |",
        "|---|---|---|---|---|---|---|", *cuts, "",
        f"Student: `{Path(result['student']).name}` of a `make demo` run; assistant: that "
        "run's cross-encoder. Reproduce: `" + command + "`.", ""]
    for name, recs in result["examples"].items():
        lines += [f"## Examples, {name}", ""]
        for item_id in dict.fromkeys(r["item_id"] for r in recs):
            mine = [r for r in recs if r["item_id"] == item_id]
            lines.append(f"- `{item_id}`: " + ", ".join(
                f"{r['keyphrase']} ({r['source']}, {r['rater_p']:.2f}"
                + (f", human {r['human_grade']}" if r["human_grade"] else "") + ")"
                for r in mine))
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", type=Path, required=True)
    parser.add_argument("--assistant", type=Path, required=True)
    parser.add_argument("--items", type=int, default=100)
    parser.add_argument("--judge-items", type=int, default=12)
    parser.add_argument("--judge-model", default=None,
                        help="judge weights (components/judge/weights.py); default judge.yaml's")
    parser.add_argument("--calibration-pairs", type=int, default=96,
                        help="ESCI train-split pairs the judge rates to choose its threshold")
    parser.add_argument("-k", type=int, default=8)
    parser.add_argument("--mined", type=int, default=3000)
    parser.add_argument("--judge-cache", type=Path, default=None,
                        help="JSONL of judged pairs, read and appended (resumable runs)")
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    args = parser.parse_args(argv)
    result = measure(args.student, args.assistant, args.items, args.judge_items, args.k,
                     args.mined, args.judge_model, args.calibration_pairs, args.judge_cache)
    command = (f"python -m bench.relevance --student RUN/train-bi-encoder/student --assistant "
               f"RUN/train-cross-encoder/model --items {args.items} --judge-items "
               f"{args.judge_items} --mined {args.mined} --calibration-pairs "
               f"{args.calibration_pairs}"
               + (f" --judge-model {args.judge_model}" if args.judge_model else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "relevance.json").write_text(json.dumps({**result, "command": command},
                                                        indent=1))
    (args.out / "relevance.md").write_text(markdown(result, command))
    print(markdown(result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
