"""The contracts between the stages, and between the offline stages and serving.

Each concept that crosses a stage boundary has its one home here: how an item becomes the
text the models see, the file names of the artifacts one step writes and the next reads, the
index schema the gateway searches, the Triton model and tensor names the gateway calls, and
the one JSONL reader/writer. This module imports no stage: every stage, the pipelines, the
benchmarks and ``serving/`` import it (``docs/ARCHITECTURE.md``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

# --- items ---------------------------------------------------------------------------------
ITEM_FIELDS: tuple[str, ...] = ("title", "brand", "category")
"""The item fields joined into the text every encoder, ranker and the gateway see."""

ITEM_TEXT_FIELDS: frozenset[str] = frozenset({"title", "brand", "category", "description"})
"""The fields an item text may be made of (the gateway's request carries these)."""

ITEM_TEXT_SEPARATOR = " | "
ITEM_TEXT_MAX_CHARS = 512


def item_text(item: Any, fields: Iterable[str] = ITEM_FIELDS,
              max_chars: int = ITEM_TEXT_MAX_CHARS) -> str:
    """``item`` (anything with the named attributes) as one string for the models: the
    non-empty fields, newlines flattened, joined by ``' | '`` and cut at ``max_chars``."""
    parts = (str(getattr(item, name) or "").replace("\n", " ").strip() for name in fields)
    return ITEM_TEXT_SEPARATOR.join(p for p in parts if p)[:max_chars]


# --- artifact file names (inside the step's output directory) ------------------------------
ITEMS_FILE = "items.jsonl.gz"          # data bundle: items, one JSON object a line
JUDGMENTS_FILE = "judgments.csv"        # data bundle: human judgments
SPLIT_FILE = "split.json"               # data bundle: the query split
KEYPHRASES_FILE = "keyphrases.jsonl"    # data bundle: the keyphrase universe
BUNDLE_MANIFEST_FILE = "manifest.json"  # data bundle: counts and the split report
CLICKS_FILE = "clicks.jsonl"            # click log: ClickRecord rows
FILTERED_FILE = "filtered.jsonl"        # click log: (query_id, item_id) Search dropped
CANDIDATES_FILE = "candidates.jsonl"    # candidate pairs the judge is asked to label
LABELS_FILE = "teacher_labels.jsonl"    # the judge's soft labels (the teacher-label contract)
# The judge's relevance dimensions (ELLM-rele + MKD), in this order wherever they are stacked:
# each label's ``dimensions`` holds {name: {"yes", "no", "na"}} for these names.
JUDGE_DIMENSIONS = ("type", "brand", "size", "colour", "model", "material", "audience",
                    "quantity")
DIMENSION_ANSWERS = ("yes", "no", "na")
POOL_SCORES_FILE = "pool_scores.jsonl"  # the cross-encoder's scores of the pool
TRAINING_LOG_FILE = "training_log.json"  # beside a trained model: losses and validation curve
INDEX_DB_FILE = "keyphrases.db"         # a Milvus Lite index
INDEX_MANIFEST_FILE = "index_manifest.json"


def is_local_uri(uri: str) -> bool:
    """A Milvus URI that names Milvus Lite (a local file) rather than a server."""
    return not uri.startswith(("http://", "https://", "tcp://", "unix:"))


# --- the keyphrase index the gateway searches -----------------------------------------------
INDEX_OUTPUT_FIELDS = ["text", "normalized", "source", "keyphrase_class", "category"]
"""The scalar fields of a keyphrase row that a search returns."""

CATEGORY_SEPARATOR = ">"


def top_level_category(category_path: str) -> str:
    """``"Home & Kitchen > Furniture > Beds"`` -> ``"Home & Kitchen"`` ('' when empty)."""
    return category_path.split(CATEGORY_SEPARATOR, 1)[0].strip()


def manifest_collection(alias: str) -> str:
    """The collection that records every published build behind ``alias``."""
    return f"{alias}_versions"


@dataclass(frozen=True)
class IndexVersion:
    """A published build: which collection, which model embedded it, what it holds."""

    collection: str
    model_version: str
    dim: int
    count: int
    categories: tuple[str, ...]
    created_at: str
    metric_type: str


def version_from_row(row: dict) -> IndexVersion:
    """A manifest row as an IndexVersion."""
    return IndexVersion(
        collection=row["collection"], model_version=row["model_version"], dim=int(row["dim"]),
        count=int(row["count"]), categories=tuple(json.loads(row["categories"])),
        created_at=row["created_at"], metric_type=row["metric_type"])


def category_filter(category: str | None) -> str:
    """A Milvus boolean expression selecting one category ('' when no filter)."""
    return f"category == {json.dumps(category)}" if category else ""


# --- the Triton models serving calls (model_repository/*.pbtxt.tmpl) -----------------------
EMBED_MODEL = "embed_text"       # TEXT (BYTES) -> embedding (FP32, L2-normalised)
EMBED_INPUT = "TEXT"
EMBED_OUTPUT = "embedding"
TOKENIZER_MODEL = "tokenizer"   # TEXT (BYTES) -> input_ids, attention_mask; parameter max_length
ENCODER_MODEL = "encoder"       # input_ids, attention_mask -> embedding (the student)
ENCODER_INPUTS = ("input_ids", "attention_mask")
SCORE_MODEL = "score_pairs"      # ITEM_TEXT, KEYPHRASE (BYTES) -> score (P(relevant))
SCORE_ITEM_INPUT = "ITEM_TEXT"
SCORE_KEYPHRASE_INPUT = "KEYPHRASE"
SCORE_OUTPUT = "score"
PAIR_TOKENIZER_MODEL = "pair_tokenizer"  # ITEM_TEXT, KEYPHRASE -> CROSS_ENCODER_INPUTS;
#                                          parameters max_length, pair_order
CROSS_ENCODER_MODEL = "cross_encoder"    # CROSS_ENCODER_INPUTS -> score (+ dimensions)
CROSS_ENCODER_INPUTS = ("input_ids", "attention_mask", "token_type_ids")

# --- JSONL ---------------------------------------------------------------------------------
T = TypeVar("T")


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write ``text`` atomically (a synced temp file renamed into place): a run cut off
    mid-write never leaves half a results file behind."""
    write_lines_atomic(path, [text])


def write_lines_atomic(path: Path | str, lines: Iterable[str]) -> int:
    """Write strings atomically, as :func:`write_text_atomic`; the count written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    count = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(line)
            count += 1
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return count


def write_jsonl_atomic(path: Path | str, rows: Iterable[dict]) -> int:
    """Write dicts as JSONL atomically (a synced temp file renamed into place); the count."""
    return write_lines_atomic(path, (json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def read_training_log(model_dir: Path | str) -> dict:
    """A saved model's ``training_log.json`` (``{"losses": {task: [[step, loss]]},
    "validation": [[step, nDCG@10]]}``), ``{}`` when it has none."""
    path = Path(model_dir) / TRAINING_LOG_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def read_jsonl(path: Path | str, row: Callable[[dict], T] = dict,
               error: Callable[[str, int, Exception], Exception] | None = None) -> list[T]:
    """Each non-blank line of a JSONL file through ``row``. A line that is not JSON or that
    ``row`` refuses (ValueError, TypeError) raises ``error(path, line, exc)``, by default a
    ValueError naming the file and line."""
    out = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                out.append(row(json.loads(line)))
            except (ValueError, TypeError) as exc:
                if error is not None:
                    raise error(str(path), lineno, exc) from None
                raise ValueError(f"{path}:{lineno}: {exc}") from None
    return out

