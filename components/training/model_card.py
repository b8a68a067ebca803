"""Model cards (README.md) for the saved student and cross-encoder directories."""

from __future__ import annotations

import json
from pathlib import Path

from components.contracts import TRAINING_LOG_FILE


def write_model_card(model_dir: Path | str, title: str, summary: str, data: dict,
                     losses: list[str], metrics: dict, command: str) -> Path:
    """Write ``README.md`` into a saved model directory: what it is, data, losses, metrics."""
    path = Path(model_dir) / "README.md"
    lines = [f"# {title}", "", summary, "", "## Training data", ""]
    lines += [f"- **{k}**: {v}" for k, v in data.items()]
    lines += ["", "## Losses", ""] + [f"- {loss}" for loss in losses]
    lines += ["", "## Metrics (human ESCI labels)", "", "```json",
              json.dumps(metrics, indent=2, sort_keys=True, default=str), "```", "",
              "## Reproduce", "", f"`{command}`", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def write_training_log(model_dir: Path | str, curve, validation) -> Path:
    """Write ``training_log.json`` beside the model: the loss of every step as
    ``{task: [[step, loss], ...]}`` (``curve``: ``(step, task, loss)`` or, for one task,
    ``(step, loss)`` tuples) and ``[step, validation nDCG@10]`` pairs; the run report plots
    them."""
    losses: dict[str, list] = {}
    for point in curve:
        step, task, loss = point if len(point) == 3 else (point[0], "loss", point[1])
        losses.setdefault(task, []).append([step, loss])
    path = Path(model_dir) / TRAINING_LOG_FILE
    path.write_text(json.dumps({"losses": losses, "validation": [list(v) for v in validation]}),
                    encoding="utf-8")
    return path
