"""Do the demo's recommendations make sense? The share of each test-split item's top 8 that a
rater calls relevant, for the keyphrase universe before and after the mined phrases.

    python -m bench.relevance --student RUN/train-bi-encoder/student \\
        --assistant RUN/train-cross-encoder/model [--items 100] [--judge-items 20] \\
        [--out docs/results]

"before": the ESCI and WANDS queries (630 phrases, 480 of them WANDS furniture queries);
"after": the same plus the catalogue-mined phrases the pipeline adds (``--mined``). The same
student retrieves from both; two raters score every recommended pair: the assistant
cross-encoder given (P(relevant) ≥ 0.5) and, on ``--judge-items`` of the items, the local LLM
judge (``components/judge/judge.yaml``'s model on this machine's CPU; P(relevant) ≥ 0.5).
Writes ``relevance.json`` and ``relevance.md`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from components.data.bundle import DataBundle
from components.data.keyphrases import build_keyphrase_universe
from components.data.mining import mined_universe
from components.data.wands import load_wands_queries
from components.evaluation.relevance import (
    Recommendation,
    human_grades,
    rated_recommendations,
    recommend,
    relevance_rate,
    sample_items,
)


class JudgeRater:
    """The local LLM judge as a pair scorer over items (not item texts)."""

    def __init__(self, items):
        from components.judge.config import load_config
        from components.judge.local import LocalJudge

        self.items = items
        self.judge = LocalJudge.from_config(load_config())
        self.model = self.judge.model_name

    def rate(self, recs: list[Recommendation]) -> list[float]:
        from components.judge.backend import JudgeRequest

        labels = self.judge.judge([JudgeRequest(self.items[r.item_id], r.keyphrase)
                                   for r in recs])
        return [lab.p_relevant if lab.status == "ok" else float("nan") for lab in labels]


def universes(bundle: DataBundle, mined: int) -> dict:
    base = build_keyphrase_universe(bundle.judgments, load_wands_queries())
    phrases = mined_universe(bundle.items, exclude={j.query for j in bundle.judgments},
                             limit=mined)
    return {"before": base,
            "after": build_keyphrase_universe(bundle.judgments, load_wands_queries(), phrases)}


def measure(student: Path, assistant: Path, n_items: int, judge_items: int, k: int,
            mined: int) -> dict:
    from components.baselines.rankers import EncoderRanker
    from components.training.cross_encoder import CrossEncoderScorer

    bundle = DataBundle.from_raw()
    item_ids = sample_items(bundle.items, bundle.judgments, bundle.split.queries("test"),
                            n_items)
    encoder = EncoderRanker(student, "student")
    scorer = CrossEncoderScorer.load(assistant, batch_size=64)
    grades = human_grades(bundle.judgments)
    judge = JudgeRater(bundle.items) if judge_items else None
    judged_ids = set(sample_items({i: bundle.items[i] for i in item_ids}, bundle.judgments,
                                  bundle.split.queries("test"), judge_items)) if judge else set()
    out = {"student": "/".join(student.parts[-2:]), "assistant": "/".join(assistant.parts[-2:]), "k": k, "items": n_items,
           "judge_items": len(judged_ids), "mined": mined, "universes": {}, "examples": {}}
    for name, universe in universes(bundle, mined).items():
        recs = rated_recommendations(recommend(encoder, bundle.items, item_ids, universe, k),
                                     scorer, bundle.items, grades)
        entry = {"keyphrases": len(universe),
                 "by_source": {s: sum(kp.source == s for kp in universe)
                               for s in ("esci", "wands", "mined")},
                 "assistant": relevance_rate(recs)}
        if judge is not None:
            subset = [r for r in recs if r.item_id in judged_ids]
            start = time.perf_counter()
            p_judge = judge.rate(subset)
            judged = [Recommendation(**{**r.to_dict(), "rater_p": p})
                      for r, p in zip(subset, p_judge, strict=True) if not np.isnan(p)]
            entry["judge"] = {**relevance_rate(judged), "model": judge.model,
                              "seconds": round(time.perf_counter() - start, 1)}
        out["universes"][name] = entry
        out["examples"][name] = [r.to_dict() for r in recs if r.item_id in item_ids[:4]]
    return out


def markdown(result: dict, command: str) -> str:
    rows = []
    for name, u in result["universes"].items():
        a, j = u["assistant"], u.get("judge") or {}
        rows.append(f"| {name} | {u['keyphrases']:,} ({u['by_source']['esci']} ESCI, "
                    f"{u['by_source']['wands']} WANDS, {u['by_source']['mined']:,} mined) | "
                    f"{a['rate']:.1%} (mean P {a['mean_p']:.2f}) | "
                    + (f"{j['rate']:.1%} of {j['pairs']} (mean P {j['mean_p']:.2f}) | "
                       if j else "— | ")
                    + f"{a['human_graded_pairs']} |")
    lines = [
        "# Do the recommendations make sense?", "",
        f"Top {result['k']} keyphrases of {result['items']} test-split items (seed-13 split), "
        f"one student, two keyphrase universes; the share a rater calls relevant "
        f"(P(relevant) ≥ 0.5). The judge rated {result['judge_items']} of the items.", "",
        "| universe | keyphrases | assistant rates relevant | judge rates relevant | "
        "pairs with a human grade |", "|---|---|---|---|---|", *rows, "",
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
    parser.add_argument("--judge-items", type=int, default=20)
    parser.add_argument("-k", type=int, default=8)
    parser.add_argument("--mined", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=Path("docs/results"))
    args = parser.parse_args(argv)
    result = measure(args.student, args.assistant, args.items, args.judge_items, args.k,
                     args.mined)
    command = (f"python -m bench.relevance --student RUN/train-bi-encoder/student --assistant "
               f"RUN/train-cross-encoder/model --items {args.items} --judge-items "
               f"{args.judge_items} --mined {args.mined}")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "relevance.json").write_text(json.dumps({**result, "command": command},
                                                        indent=1))
    (args.out / "relevance.md").write_text(markdown(result, command))
    print(markdown(result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
