"""KFP contract of the keyphrase index build. The work is components.indexing.builder."""

from kfp import dsl
from kfp.dsl import Artifact, Dataset, Input, Metrics, Model, Output

from components.image import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def build_index(data: Input[Dataset], student: Input[Model], index: Output[Artifact],
                metrics: Output[Metrics], model_version: str = "student",
                milvus_uri: str = "", alias: str = "keyphrases"):
    """Embed the keyphrase universe with the student and publish it behind ``alias``.

    ``milvus_uri`` empty: a Milvus Lite index at ``<index>/keyphrases.db`` (the artifact).
    A server URI (``http://host:19530``): the collection lives there; the artifact holds
    only ``index_manifest.json`` naming it.
    """
    from pathlib import Path

    from components.contracts import INDEX_DB_FILE, INDEX_MANIFEST_FILE
    from components.data.bundle import DataBundle
    from components.indexing.builder import build_keyphrase_index, keyphrase_records
    from components.indexing.categories import keyphrase_categories
    from components.indexing.config import IndexConfig
    from components.indexing.encoders import SentenceTransformerEncoder

    out = Path(index.path)
    out.mkdir(parents=True, exist_ok=True)
    config = IndexConfig.from_yaml(uri=milvus_uri or str(out / INDEX_DB_FILE), alias=alias)
    bundle = DataBundle.load(data.path)
    categories = keyphrase_categories(bundle.keyphrases, bundle.judgments, bundle.items,
                                      config.source_categories)
    encoder = SentenceTransformerEncoder(student.path, config.embed_batch_size, model_version)
    manifest = build_keyphrase_index(keyphrase_records(bundle.keyphrases, categories), encoder,
                                     config, model_version)
    manifest.save(out / INDEX_MANIFEST_FILE)
    index.metadata.update({"uri": manifest.uri, "alias": manifest.alias,
                           "collection": manifest.collection, "model_version": model_version})
    metrics.log_metric("keyphrases", manifest.count)
    metrics.log_metric("dim", manifest.dim)
    metrics.log_metric("build_seconds", manifest.seconds)
