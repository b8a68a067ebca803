"""Hand-made teacher labels for tests: noisy soft labels derived from a few human grades.

Not a judge: only a stand-in with the contract's shape, so training code can be tested before
(and independently of) the real judge's labels.
"""

from __future__ import annotations

import random
from pathlib import Path

from components.data.esci import GRADES
from components.judge.labels import TeacherLabel, save_teacher_labels

PEAK = {"E": [0.7, 0.15, 0.05, 0.1], "S": [0.2, 0.5, 0.1, 0.2], "C": [0.05, 0.15, 0.4, 0.4],
        "I": [0.05, 0.05, 0.1, 0.8]}


def hand_made_labels(judgments, limit: int, seed: int = 0, extra=()) -> list[TeacherLabel]:
    rng = random.Random(seed)
    out = []
    for j in rng.sample(list(judgments), min(limit, len(judgments))):
        probs = [max(1e-3, p + rng.uniform(-0.05, 0.05)) for p in PEAK[j.grade]]
        total = sum(probs)
        probs = {g: p / total for g, p in zip(GRADES, probs, strict=True)}
        grade = max(probs, key=probs.get)
        out.append(TeacherLabel(j.item_id, j.query, j.query_id, "shown", "hand-made", "test",
                                "ok", probs, probs["E"] + probs["S"], grade))
    for keyphrase, item_id in extra:
        probs = dict(zip(GRADES, PEAK["I"], strict=True))
        out.append(TeacherLabel(item_id, keyphrase, None, "random", "hand-made", "test", "ok",
                                probs, 0.1, "I"))
    return out


def write_hand_made_labels(path: Path, judgments, limit: int, seed: int = 0, extra=()) -> Path:
    save_teacher_labels(path, hand_made_labels(judgments, limit, seed, extra))
    return path
