"""KFP contracts of the judge step. The work is components.judge.candidates and .run.

Artifacts: ``candidates`` is a directory holding ``candidates.jsonl`` (CandidatePair rows);
``labels`` a directory holding ``teacher_labels.jsonl`` (the teacher-label contract,
components/judge/labels.py). Judging fans out: ``shard_candidates`` splits the candidates
by item (components/sharding.py), one ``judge_pairs`` task a shard runs under
``dsl.ParallelFor``, and ``merge_labels`` checks that every pair was judged exactly once. ``configure_judge_task`` applies the cluster settings of a
``judge_pairs`` task: one GPU, retries with backoff, and the endpoint's API key from a
Kubernetes secret (the key never appears in the compiled pipeline).
"""


from kfp import dsl, kubernetes
from kfp.dsl import Dataset, Input, Metrics, Output

from components.image import IMAGE

API_KEY_SECRET = "kpdistill-judge-endpoint"
API_KEY_SECRET_KEY = "api-key"
API_KEY_ENV = "KPDISTILL_JUDGE_API_KEY"


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def generate_candidates(data: Input[Dataset], clicks: Input[Dataset],
                        candidates: Output[Dataset], budget: int = 2000, seed: int = 11,
                        use_retrieval: bool = True, config_path: str = "",
                        retrieval_max_items: int = 0):
    """Budgeted candidate pairs of train-split keyphrases (components/judge/candidates.yaml);
    ``retrieval_max_items`` > 0 overrides how many items the zero-shot encoder searches."""
    from collections import Counter
    from pathlib import Path

    from components.clicks.simulator import ClickLog
    from components.contracts import CANDIDATES_FILE
    from components.data.bundle import DataBundle
    from components.judge.candidates import DEFAULT_CONFIG, CandidateConfig, training_candidates
    from components.judge.pairs import save_candidates

    bundle = DataBundle.load(data.path)
    overrides = {"retrieval_max_items": retrieval_max_items} if retrieval_max_items > 0 else {}
    config = CandidateConfig.from_yaml(config_path or DEFAULT_CONFIG, budget=budget, seed=seed,
                                       **overrides)
    encoder = None
    if use_retrieval:
        from components.baselines.rankers import EncoderRanker
        from components.models.pretrained import minilm_path
        encoder = EncoderRanker(minilm_path(), "minilm_zero_shot")
    pairs = training_candidates(bundle.items, bundle.judgments, bundle.split,
                                ClickLog.load(clicks.path), config, encoder)
    Path(candidates.path).mkdir(parents=True, exist_ok=True)
    save_candidates(Path(candidates.path) / CANDIDATES_FILE, pairs)
    candidates.metadata.update({"pairs": len(pairs), **Counter(p.source for p in pairs)})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def shard_candidates(candidates: Input[Dataset], shards: Output[Dataset],
                     num_shards: int = 2) -> list:
    """The candidates split into ``num_shards`` by a stable hash of the item (an item's
    pairs share a shard, and its prompt prefix is computed once); returns the shard
    indices for ``dsl.ParallelFor``. ``candidates.jsonl`` is kept beside the shards: the
    merge puts the labels back in its order."""
    import shutil
    from pathlib import Path

    from components.contracts import CANDIDATES_FILE
    from components.judge.pairs import load_candidates
    from components.judge.run import unique_pairs
    from components.sharding import write_shards

    pairs = unique_pairs(load_candidates(Path(candidates.path) / CANDIDATES_FILE))
    indices = write_shards(shards.path, pairs, num_shards)
    shutil.copyfile(Path(candidates.path) / CANDIDATES_FILE, Path(shards.path) / CANDIDATES_FILE)
    shards.metadata.update({"num_shards": num_shards, "pairs": len(pairs)})
    return indices


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def judge_pairs(data: Input[Dataset], candidates: Input[Dataset], labels: Output[Dataset],
                metrics: Output[Metrics], model: str = "", backend: str = "",
                endpoint_url: str = "", endpoint_model: str = "", batch_size: int = 0,
                device: str = "auto", max_pairs: int = 0, store_path: str = "",
                config_path: str = "", dimensions: bool = False, dimension_version: str = "",
                shard: int = -1):
    """Teacher labels for the candidates (components/judge/judge.yaml; empty = default).

    ``shard`` ≥ 0: ``candidates`` is ``shard_candidates``' output and this task judges that
    shard's pairs only, into its own store file beside the default one
    (components/judge/store.py: ``shard_store_path``).

    ``endpoint_url`` set (and ``backend`` empty) judges through that OpenAI-compatible
    endpoint; otherwise the local model ``model`` runs in the task.

    ``dimensions`` (or ``dimensions: true`` in the config) also asks the per-dimension
    questions (components/judge/dimensions.py; ``dimension_version`` overrides the config's)
    and the labels carry their answers; off, every label's ``dimensions`` is null.

    Judgments go to a resumable SQLite store (``store_path``, default under
    KPDISTILL_CACHE_DIR — mount a volume there on a cluster so a retried task resumes and a
    later run judges only new pairs: grades any store in that folder holds for the same
    model and prompt are reused, whatever the earlier run's shard count).
    """
    import dataclasses
    from pathlib import Path

    from components.contracts import CANDIDATES_FILE, LABELS_FILE
    from components.data.bundle import DataBundle
    from components.judge.config import load_config
    from components.judge.labels import save_teacher_labels
    from components.judge.pairs import CandidatePair, load_candidates
    from components.judge.run import (
        StoredOnlyJudge,
        all_stored,
        judge_candidates,
        make_backend,
        teacher_labels,
    )
    from components.judge.store import JudgmentStore, shard_store_path, sibling_stores
    from components.settings import cache_dir
    from components.sharding import read_manifest, read_shard

    backend = backend or ("openai" if endpoint_url else "")  # an endpoint implies HTTP
    config = load_config(config_path or None, model=model or None, backend=backend or None,
                         batch_size=batch_size or None, device=device or None,
                         dimensions=True if dimensions else None,
                         dimension_version=dimension_version or None)
    if endpoint_url or endpoint_model:
        config = dataclasses.replace(config, endpoint=dataclasses.replace(
            config.endpoint, base_url=endpoint_url or config.endpoint.base_url,
            model=endpoint_model or config.endpoint.model))
    if shard >= 0:
        if max_pairs:
            raise ValueError("max_pairs cuts an unsharded run only: a shard's share of the "
                             "cut would depend on the shard count")
        pairs = read_shard(candidates.path, shard, lambda row: CandidatePair(**row))
        num_shards = read_manifest(candidates.path)["num_shards"]
    else:
        pairs = load_candidates(Path(candidates.path) / CANDIDATES_FILE)
        pairs = pairs[:max_pairs] if max_pairs else pairs
    base = Path(store_path) if store_path else cache_dir() / "judge" / "judgments.sqlite"
    store = shard_store_path(base, shard, num_shards) if shard >= 0 else base
    items = DataBundle.load(data.path).items
    dimension_version = config.dimension_version if config.dimensions else None
    with JudgmentStore(store) as db:
        reused = db.import_from(sibling_stores(base), config.judge_model,
                                config.prompt_version, {p.key for p in pairs}, dimension_version)
        if all_stored(pairs, db, config.judge_model, config.prompt_version, dimension_version):
            backend_ = StoredOnlyJudge(config.judge_model, config.prompt_version)
        else:
            backend_ = make_backend(config)
        stats = judge_candidates(pairs, items, backend_, db, config.chunk_size,
                                 dimension_prompts=config.dimension_prompts())
        rows = teacher_labels(pairs, db, config.judge_model, config.prompt_version,
                              config.dimension_version if config.dimensions else None)
    Path(labels.path).mkdir(parents=True, exist_ok=True)
    save_teacher_labels(Path(labels.path) / LABELS_FILE, rows)
    ok = [r for r in rows if r.status == "ok"]
    labels.metadata.update({"judge_model": config.judge_model, "labels": len(rows),
                            "prompt_version": config.prompt_version,
                            "dimension_version": (config.dimension_version
                                                  if config.dimensions else ""),
                            "shard": shard, "seconds": round(stats.seconds, 3),
                            "judged_now": stats.judged, "resumed_from_store": stats.skipped,
                            "reused_from_other_stores": reused})
    metrics.log_metric("pairs", len(rows))
    metrics.log_metric("unreadable", len(rows) - len(ok))
    metrics.log_metric("judged_now", stats.judged)
    metrics.log_metric("resumed_from_store", stats.skipped)
    metrics.log_metric("reused_from_other_stores", reused)
    metrics.log_metric("pairs_per_s", round(stats.pairs_per_s, 3))
    if ok:
        metrics.log_metric("mean_p_relevant", sum(r.p_relevant for r in ok) / len(ok))
    if config.dimensions:
        metrics.log_metric("dimensions_labels", sum(r.dimensions is not None for r in rows))
        metrics.log_metric("dimensions_judged_now", stats.dimensions_judged)
        metrics.log_metric("dimensions_unreadable_answers", stats.dimensions_unreadable)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def merge_labels(candidates: Input[Dataset], parts: Input[list[Dataset]],
                 labels: Output[Dataset], metrics: Output[Metrics]):
    """The shards' labels as one teacher-label file, in the candidates' order: every
    candidate pair judged exactly once (components/sharding.py raises otherwise), one judge
    model and prompt across the shards; reports the pairs judged now and the stragglers."""
    from pathlib import Path

    from components.contracts import CANDIDATES_FILE, LABELS_FILE
    from components.judge.labels import load_teacher_labels, save_teacher_labels
    from components.judge.pairs import load_candidates
    from components.judge.run import unique_pairs
    from components.sharding import ShardError, merge_exactly_once, stragglers

    order = [p.key for p in unique_pairs(load_candidates(Path(candidates.path)
                                                         / CANDIDATES_FILE))]
    parts = sorted(parts, key=lambda a: int(a.metadata.get("shard", 0)))
    judges = {(a.metadata.get("judge_model"), a.metadata.get("prompt_version")) for a in parts}
    if len(judges) != 1:
        raise ShardError(f"the shards were judged by different judges or prompts: {judges}")
    rows, report = merge_exactly_once(
        order, [load_teacher_labels(Path(a.path) / LABELS_FILE, ok_only=False) for a in parts],
        key=lambda r: (r.item_id, r.keyphrase))
    by_key = {(r.item_id, r.keyphrase): r for r in rows}
    Path(labels.path).mkdir(parents=True, exist_ok=True)
    save_teacher_labels(Path(labels.path) / LABELS_FILE, (by_key[k] for k in order))
    seconds = [float(a.metadata.get("seconds", 0.0)) for a in parts]
    slow = stragglers(seconds)
    judged_now = sum(int(a.metadata.get("judged_now", 0)) for a in parts)
    labels.metadata.update({**{k: parts[0].metadata.get(k) for k in
                               ("judge_model", "prompt_version", "dimension_version")},
                            "labels": len(rows), "shards": len(parts),
                            "judged_now": judged_now, "stragglers": slow})
    metrics.log_metric("pairs", len(rows))
    metrics.log_metric("shards", len(parts))
    metrics.log_metric("judged_now", judged_now)
    metrics.log_metric("reused", len(rows) - judged_now)
    metrics.log_metric("unreadable", sum(r.status != "ok" for r in rows))
    metrics.log_metric("duplicates_dropped", report["duplicates_dropped"])
    metrics.log_metric("slowest_shard_s", max(seconds, default=0.0))
    metrics.log_metric("stragglers", len(slow))


def configure_judge_task(task: "dsl.PipelineTask", gpus: int = 1,
                         accelerator: str = "nvidia.com/gpu", retries: int = 3,
                         secret_name: str = API_KEY_SECRET,
                         secret_key: str = API_KEY_SECRET_KEY) -> "dsl.PipelineTask":
    """Cluster settings of a judge_pairs task: GPU, retries, API key from a secret.

    The secret is optional: a local-model run needs no key. Local runs ignore all of this.
    """
    if gpus:
        task.set_accelerator_type(accelerator).set_accelerator_limit(gpus)
    task.set_memory_limit("16G").set_cpu_limit("4")
    task.set_retry(num_retries=retries, backoff_duration="30s", backoff_factor=2.0,
                   backoff_max_duration="600s")
    kubernetes.use_secret_as_env(task, secret_name=secret_name,
                                 secret_key_to_env={secret_key: API_KEY_ENV}, optional=True)
    return task
