"""The KFP contracts compile, and configure_gpu_task asks for a GPU."""

from kfp import compiler, dsl

from components.evaluation.component import evaluate
from components.training.component import (
    build_pool,
    configure_gpu_task,
    merge_scores,
    score_pairs,
    train_bi_encoder,
    train_cross_encoder,
)


def test_training_components_compile_into_a_gpu_pipeline(tmp_path):
    @dsl.pipeline(name="training-contracts")
    def pipeline():
        data = dsl.importer(artifact_uri="file:///data", artifact_class=dsl.Dataset).output
        ce = configure_gpu_task(train_cross_encoder(data=data, labels=data))
        pool = build_pool(data=data, clicks=data, labels=data, num_shards=2)
        with dsl.ParallelFor(pool.outputs["Output"]) as shard:
            scored = configure_gpu_task(score_pairs(data=data, pool=pool.outputs["pool"],
                                                    cross_encoder=ce.outputs["model"],
                                                    shard=shard))
        merged = merge_scores(pool=pool.outputs["pool"],
                              parts=dsl.Collected(scored.outputs["scores"]))
        student = configure_gpu_task(train_bi_encoder(data=data, clicks=data, labels=data,
                                                      scores=merged.outputs["scores"]))
        evaluate(data=data, student=student.outputs["student"],
                 cross_encoder=ce.outputs["model"])

    out = tmp_path / "p.yaml"
    compiler.Compiler().compile(pipeline, str(out))
    text = out.read_text()
    assert text.count("accelerator") >= 3 and "nvidia.com/gpu" in text
    for name in ("train-cross-encoder", "build-pool", "score-pairs", "merge-scores",
                 "train-bi-encoder", "evaluate"):
        assert f"comp-{name}" in text
