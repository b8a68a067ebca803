"""Real inputs shared by the demo and the load test: test-split items, index and repository."""

from __future__ import annotations

import logging
from pathlib import Path

from components.data import Item, Judgment, load_items, load_judgments, split_queries
from serving.proto.kpdistill.v1 import recommender_pb2 as pb

log = logging.getLogger(__name__)


def test_split_items(limit: int | None = None) -> tuple[list[Item], list[Judgment]]:
    """Items judged for test-split queries (sorted by id: deterministic), and all judgments."""
    judgments = load_judgments()
    split = split_queries(sorted({j.query_id for j in judgments}))
    test_queries = set(split.queries("test"))
    items = load_items()
    ids = sorted({j.item_id for j in judgments if j.query_id in test_queries})
    chosen = [items[i] for i in ids if i in items]
    return (chosen[:limit] if limit else chosen), judgments


def item_message(item: Item) -> pb.Item:
    return pb.Item(item_id=item.item_id, title=item.title[:512], category=item.category,
                   brand=item.brand, description=item.description[:4096])


def build_index(student_dir: Path, uri: str, model_version: str) -> None:
    """The real keyphrase universe embedded by ``student_dir`` into a Lite index at ``uri``."""
    from components.indexing.builder import build_keyphrase_index, universe_records
    from components.indexing.config import IndexConfig
    from components.indexing.encoders import SentenceTransformerEncoder

    config = IndexConfig.from_yaml(uri=uri)
    encoder = SentenceTransformerEncoder(student_dir, config.embed_batch_size, model_version)
    build_keyphrase_index(universe_records(config), encoder, config, model_version)


def ensure_model_repository(path: Path | None, work: Path) -> Path:
    """``path`` when it holds a repository; else a stand-in one built under ``work``."""
    if path and (path / "embed_text").is_dir():
        return path
    out = work / "model_repository"
    if (out / "embed_text").is_dir():
        return out
    from components.export.repository import build_model_repository
    from components.export.standin import standin_cross_encoder, standin_student

    log.warning("no model repository at %s: building one from the stand-in models at %s",
                path, out)
    return build_model_repository(standin_student(), standin_cross_encoder(), out,
                                  target="python-onnx", overwrite=True)


def served_setup(student: Path | None, model_repository: Path | None,
                 name: str) -> tuple[Path, Path, Path, str, list[Item]]:
    """What a serving bench starts from: the student (default MiniLM), a fresh work folder,
    the model repository (a stand-in one when none is given), the real keyphrase universe
    indexed by the student into a Lite index, and 200 test-split items.
    Returns ``(student, work, repository, index_uri, items)``."""
    import tempfile

    from components.models.pretrained import minilm_path
    from components.settings import artifacts_dir

    student = student or minilm_path()
    work = Path(tempfile.mkdtemp(prefix=f"kpdistill-{name}-"))
    repository = ensure_model_repository(model_repository, artifacts_dir() / "perf")
    index_uri = str(work / "index" / "keyphrases.db")
    build_index(student, index_uri, name)
    items, _ = test_split_items(200)
    return student, work, repository, index_uri, items
