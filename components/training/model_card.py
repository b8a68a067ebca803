"""Model cards (README.md) for the saved student and cross-encoder directories."""

from __future__ import annotations

import json
from pathlib import Path


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
