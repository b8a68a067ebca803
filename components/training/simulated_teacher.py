"""A stand-in teacher for when the LLM judge's labels are not available yet.

Soft labels for train-split (query, item) pairs made from the human grade passed through a
noise channel: with probability ``flip`` the grade is replaced by a uniformly drawn one, then a
fixed soft distribution peaked on that grade is jittered. It only uses train-split human labels
(never validation or test). Results obtained with it say what the distillation machinery does
with a teacher of known quality; they are not the LLM judge's results and are reported under
``judge_model = "simulated-noisy-human"``.

    python -m components.training.simulated_teacher --out labels.jsonl --budget 2000 --flip 0.3
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from components.data import load_judgments, split_queries
from components.data.esci import GRADES
from components.judge.labels import TeacherLabel, save_teacher_labels

PEAK = {"E": [0.7, 0.15, 0.05, 0.1], "S": [0.2, 0.5, 0.1, 0.2], "C": [0.05, 0.15, 0.4, 0.4],
        "I": [0.05, 0.05, 0.1, 0.8]}
JUDGE_MODEL = "simulated-noisy-human"


def simulated_labels(judgments, budget: int, flip: float, seed: int = 0) -> list[TeacherLabel]:
    if not 0.0 <= flip <= 1.0:
        raise ValueError("flip must lie in [0, 1]")
    rng = random.Random(seed)
    chosen = rng.sample(list(judgments), min(budget, len(judgments)))
    out = []
    for j in chosen:
        grade = rng.choice(GRADES) if rng.random() < flip else j.grade
        probs = [max(1e-3, p + rng.uniform(-0.05, 0.05)) for p in PEAK[grade]]
        total = sum(probs)
        probs = {g: p / total for g, p in zip(GRADES, probs, strict=True)}
        out.append(TeacherLabel(j.item_id, j.query, j.query_id, "shown", JUDGE_MODEL,
                                f"flip-{flip}", "ok", probs, probs["E"] + probs["S"],
                                max(probs, key=probs.get)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--flip", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    judgments = load_judgments()
    split = split_queries(j.query_id for j in judgments)
    train = [j for j in judgments if split.assignment[j.query_id] == "train"]
    n = save_teacher_labels(args.out, simulated_labels(train, args.budget, args.flip, args.seed))
    print(f"{n} simulated teacher labels -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
