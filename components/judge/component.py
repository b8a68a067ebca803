"""KFP contracts of the judge step. The work is components.judge.candidates and .run.

Artifacts: ``candidates`` is a directory holding ``candidates.jsonl`` (CandidatePair rows);
``labels`` a directory holding ``teacher_labels.jsonl`` (the teacher-label contract,
components/judge/labels.py). ``configure_judge_task`` applies the cluster settings of a
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
def judge_pairs(data: Input[Dataset], candidates: Input[Dataset], labels: Output[Dataset],
                metrics: Output[Metrics], model: str = "", backend: str = "",
                endpoint_url: str = "", endpoint_model: str = "", batch_size: int = 0,
                device: str = "auto", max_pairs: int = 0, store_path: str = "",
                config_path: str = "", dimensions: bool = False, dimension_version: str = ""):
    """Teacher labels for the candidates (components/judge/judge.yaml; empty = default).

    ``endpoint_url`` set (and ``backend`` empty) judges through that OpenAI-compatible
    endpoint; otherwise the local model ``model`` runs in the task.

    ``dimensions`` (or ``dimensions: true`` in the config) also asks the per-dimension
    questions (components/judge/dimensions.py; ``dimension_version`` overrides the config's)
    and the labels carry their answers; off, every label's ``dimensions`` is null.

    Judgments go to a resumable SQLite store (``store_path``, default under
    KPDISTILL_CACHE_DIR — mount a volume there on a cluster so a retried task resumes).
    """
    import dataclasses
    from pathlib import Path

    from components.contracts import CANDIDATES_FILE, LABELS_FILE
    from components.data.bundle import DataBundle
    from components.judge.config import load_config
    from components.judge.labels import save_teacher_labels
    from components.judge.pairs import load_candidates
    from components.judge.run import judge_candidates, make_backend, teacher_labels
    from components.judge.store import JudgmentStore
    from components.settings import cache_dir

    backend = backend or ("openai" if endpoint_url else "")  # an endpoint implies HTTP
    config = load_config(config_path or None, model=model or None, backend=backend or None,
                         batch_size=batch_size or None, device=device or None,
                         dimensions=True if dimensions else None,
                         dimension_version=dimension_version or None)
    if endpoint_url or endpoint_model:
        config = dataclasses.replace(config, endpoint=dataclasses.replace(
            config.endpoint, base_url=endpoint_url or config.endpoint.base_url,
            model=endpoint_model or config.endpoint.model))
    pairs = load_candidates(Path(candidates.path) / CANDIDATES_FILE)
    if max_pairs:
        pairs = pairs[:max_pairs]
    store = Path(store_path) if store_path else cache_dir() / "judge" / "judgments.sqlite"
    items = DataBundle.load(data.path).items
    with JudgmentStore(store) as db:
        stats = judge_candidates(pairs, items, make_backend(config), db, config.chunk_size,
                                 dimension_prompts=config.dimension_prompts())
        rows = teacher_labels(pairs, db, config.judge_model, config.prompt_version,
                              config.dimension_version if config.dimensions else None)
    Path(labels.path).mkdir(parents=True, exist_ok=True)
    save_teacher_labels(Path(labels.path) / LABELS_FILE, rows)
    ok = [r for r in rows if r.status == "ok"]
    labels.metadata.update({"judge_model": config.judge_model, "labels": len(rows),
                            "dimension_version": (config.dimension_version
                                                  if config.dimensions else "")})
    metrics.log_metric("pairs", len(rows))
    metrics.log_metric("unreadable", len(rows) - len(ok))
    metrics.log_metric("judged_now", stats.judged)
    metrics.log_metric("resumed_from_store", stats.skipped)
    metrics.log_metric("pairs_per_s", round(stats.pairs_per_s, 3))
    if ok:
        metrics.log_metric("mean_p_relevant", sum(r.p_relevant for r in ok) / len(ok))
    if config.dimensions:
        metrics.log_metric("dimensions_labels", sum(r.dimensions is not None for r in rows))
        metrics.log_metric("dimensions_judged_now", stats.dimensions_judged)
        metrics.log_metric("dimensions_unreadable_answers", stats.dimensions_unreadable)


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
