"""Stage functions shared by the KFP components, the experiment and the benchmarks.

One place turns the click log, the teacher labels and the assistant's pool scores into the
student's task examples, so the pipeline and every benchmark train the same student.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from components.clicks.simulator import ClickLog
from components.data.esci import Item
from components.judge.labels import TeacherLabel
from components.training.config import StudentConfig
from components.training.examples import (
    HeldOut,
    ListExample,
    PairExample,
    clicked_pairs,
    dimension_lists,
    distillation_lists,
    judge_pairs,
    query_lists,
    search_relevance_pairs,
)

# The student variants compared by the benchmarks: which tasks each trains on.
VARIANT_TASKS: dict[str, tuple[str, ...]] = {
    "click_only": ("clicks",),
    "click_sr": ("clicks", "sr"),
    "one_step": ("clicks", "sr", "judge"),
    "distilled": ("clicks", "sr", "distill", "judge"),
}


@dataclass
class StudentExamples:
    """Examples of every student task (a task the config does not name is left empty)."""

    clicks: list[PairExample]
    sr: list[PairExample]
    distill: list[ListExample]
    judge: list[PairExample] | list[ListExample]
    judge_query: list[ListExample] = field(default_factory=list)
    dimensions: list[ListExample] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"clicks": len(self.clicks), "sr": len(self.sr),
                "distill_lists": len(self.distill), "judge": len(self.judge),
                "judge_query_lists": len(self.judge_query),
                "dimension_lists": len(self.dimensions)}


def student_examples(config: StudentConfig, log: ClickLog, items: Mapping[str, Item],
                     held_out: HeldOut, labels: Sequence[TeacherLabel],
                     pool: Iterable[tuple[str, str, float]] = (),
                     seed: int = 0) -> StudentExamples:
    """Task examples for ``config.tasks``; ``pool`` holds (keyphrase, item_id, score) rows."""
    tasks = set(config.tasks)
    clicks = clicked_pairs(log, items, held_out) if "clicks" in tasks else []
    sr = search_relevance_pairs(log, items, held_out) if "sr" in tasks else []
    distill = (distillation_lists(pool, items, config.distill_list_size, seed)
               if "distill" in tasks else [])
    judge: list = []
    judge_query: list = []
    dimensions = (dimension_lists(labels, items, config.dimension_list_size,
                                  config.dimension_names, seed)
                  if "dimensions" in tasks else [])
    if "judge_query" in tasks:
        judge_query = query_lists(labels, items, config.judge_query_list_size,
                                  config.judge_query_lists_per_query, seed)
        labels = [lab for lab in labels if lab.query_id is None]  # the rest go to "judge"
    if "judge" in tasks:
        if config.judge_loss == "pearson":
            judge = distillation_lists(((lab.keyphrase, lab.item_id, float(lab.p_relevant))
                                        for lab in labels), items, config.judge_list_size, seed)
        else:
            judge = judge_pairs(labels, items)
    return StudentExamples(clicks, sr, distill, judge, judge_query, dimensions)
