"""Build the keyphrase index: embed the universe, write a new collection, switch the alias.

    python -m components.indexing.builder --student DIR --model-version V [--uri URI]
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from components.data import Keyphrase
from components.indexing.config import DEFAULT_YAML, IndexConfig
from components.indexing.encoders import KeyphraseEncoder
from components.indexing.store import IndexVersion, KeyphraseRecord, KeyphraseStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexManifest:
    """What a build published (written as ``index_manifest.json`` beside a local index)."""

    uri: str
    alias: str
    collection: str
    model_version: str
    count: int
    dim: int
    categories: list[str]
    index_type: str
    metric_type: str
    seconds: float
    dropped: list[str]

    def save(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path


def keyphrase_records(keyphrases: list[Keyphrase],
                      categories: dict[str, str]) -> list[KeyphraseRecord]:
    return [KeyphraseRecord(k.keyphrase_id, k.text, k.normalized, k.source, k.keyphrase_class,
                            categories.get(k.keyphrase_id, "")) for k in keyphrases]


def build_keyphrase_index(records: list[KeyphraseRecord], encoder: KeyphraseEncoder,
                          config: IndexConfig, model_version: str = "") -> IndexManifest:
    """Embed ``records``' texts, write them to a new collection and publish it behind the alias."""
    if not records:
        raise ValueError("no keyphrases to index")
    ids = [r.keyphrase_id for r in records]
    if len(set(ids)) != len(ids):
        raise ValueError("keyphrase ids must be unique")
    started = time.perf_counter()
    version = model_version or encoder.model_version
    texts = [r.text for r in records]
    step = config.embed_batch_size
    parts = [encoder.encode(texts[i:i + step])
             for i in tqdm(range(0, len(texts), step), desc="embed keyphrases",
                           disable=len(texts) < 5000)]
    import numpy as np

    embeddings = np.concatenate(parts)
    dim = int(embeddings.shape[1])
    store = KeyphraseStore(config)
    try:
        collection = store.create_version(version, dim)
        store.insert(collection, records, embeddings)
        store.finalize(collection)
        categories = sorted({r.category for r in records if r.category})
        store.publish(IndexVersion(
            collection=collection, model_version=version, dim=dim, count=len(records),
            categories=tuple(categories),
            created_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            metric_type=config.metric_type))
        dropped = store.prune()
    finally:
        store.close()
    manifest = IndexManifest(
        uri=config.resolved_uri, alias=config.alias, collection=collection, model_version=version,
        count=len(records), dim=dim, categories=categories, index_type=config.index_type,
        metric_type=config.metric_type, seconds=round(time.perf_counter() - started, 2),
        dropped=dropped)
    log.info("published %s (%d keyphrases, dim %d) as %s", collection, len(records), dim,
             config.alias)
    return manifest


def universe_records(config: IndexConfig) -> list[KeyphraseRecord]:
    """The project's keyphrase universe (ESCI + WANDS queries) with categories."""
    from components.data import (
        build_keyphrase_universe,
        load_items,
        load_judgments,
        load_wands_queries,
    )
    from components.indexing.categories import keyphrase_categories

    judgments = load_judgments()
    universe = build_keyphrase_universe(judgments, load_wands_queries())
    categories = keyphrase_categories(universe, judgments, load_items(),
                                      config.source_categories)
    return keyphrase_records(universe, categories)


def main(argv: list[str] | None = None) -> IndexManifest:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--student", type=Path, help="sentence-transformers dir "
                        "(default: the zero-shot MiniLM)")
    parser.add_argument("--triton-url", help="embed through Triton's embed_text at HOST:PORT "
                        "instead of loading the student")
    parser.add_argument("--model-version", default="", help="recorded with the build")
    parser.add_argument("--uri", help="Milvus Lite path or server URI (default from config)")
    parser.add_argument("--config", type=Path, default=DEFAULT_YAML)
    parser.add_argument("--manifest", type=Path, help="where to write index_manifest.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = IndexConfig.from_yaml(args.config, uri=args.uri)
    if args.triton_url:
        from components.indexing.encoders import TritonEncoder

        encoder = TritonEncoder(args.triton_url, args.model_version or "triton",
                                config.embed_batch_size)
    else:
        from components.indexing.encoders import SentenceTransformerEncoder
        from components.models.pretrained import minilm_path

        student = args.student or minilm_path()
        encoder = SentenceTransformerEncoder(student, config.embed_batch_size,
                                             args.model_version)
    manifest = build_keyphrase_index(universe_records(config), encoder, config,
                                     args.model_version)
    out = args.manifest or Path(config.resolved_uri).parent / "index_manifest.json"
    manifest.save(out)
    print(json.dumps(asdict(manifest), indent=2))
    return manifest


if __name__ == "__main__":
    main()
