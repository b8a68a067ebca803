"""The anchor: the click task trained through sentence-transformers' own trainer, timed.

Same student (MiniLM), same clicked pairs, same loss (MultipleNegativesRankingLoss inside
MatryoshkaLoss), batch size and number of steps as our trainer's click-only run, bf16 on
CUDA. Reports examples/s and wall time so our trainer's throughput has a reference.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence

from components.device import pick_device, synchronize
from components.training.config import StudentConfig
from components.training.examples import PairExample


def time_sentence_transformers_trainer(config: StudentConfig, clicks: Sequence[PairExample],
                                       steps: int, base=None) -> dict:
    """Train ``steps`` steps of the click task with ``SentenceTransformerTrainer``; time it."""
    from datasets import Dataset
    from sentence_transformers import (
        SentenceTransformerTrainer,
        SentenceTransformerTrainingArguments,
        losses,
    )
    from sentence_transformers.training_args import BatchSamplers

    from components.training.student import build_student

    device = pick_device()
    model = build_student(config, device, base)
    # NO_DUPLICATES cannot fill a batch with more rows than distinct keyphrases (it then
    # yields nothing); our trainer caps its click batches the same way
    batch_size = min(config.click_batch_size, len({c.keyphrase for c in clicks}))
    data = Dataset.from_dict({"anchor": [c.keyphrase for c in clicks],
                              "positive": [c.item_text for c in clicks]})
    loss = losses.MatryoshkaLoss(model, losses.MultipleNegativesRankingLoss(model),
                                 matryoshka_dims=list(config.matryoshka_dims))
    with tempfile.TemporaryDirectory() as tmp:
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, max_steps=steps, per_device_train_batch_size=batch_size,
            learning_rate=config.learning_rate, warmup_ratio=config.warmup_fraction,
            bf16=device.type == "cuda", batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no", report_to="none", logging_steps=max(1, steps // 5),
            seed=config.seed, dataloader_drop_last=True, disable_tqdm=True)
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                             loss=loss)
        synchronize(device)
        start = time.perf_counter()
        trainer.train()
        synchronize(device)
        seconds = time.perf_counter() - start
    examples = steps * batch_size
    return {"trainer": "sentence-transformers SentenceTransformerTrainer", "steps": steps,
            "batch_size": batch_size, "seconds": round(seconds, 2),
            "examples_per_s": round(examples / seconds, 1), "device": str(device)}
