"""A tiny sentence-transformers model (2-layer BERT, 64-d, MiniLM's tokenizer) so training code
runs end to end on a CPU in seconds. Quality is not the point here; shapes and plumbing are."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer import modules as models
    from transformers import BertConfig, BertModel

    from components.models.pretrained import minilm_path

    root = tmp_path_factory.mktemp("tiny")
    bert_dir = root / "bert"
    bert_dir.mkdir()
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json",
                 "special_tokens_map.json"):
        shutil.copy(minilm_path() / name, bert_dir / name)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=128, max_position_embeddings=128)
    BertModel(config).save_pretrained(bert_dir)
    transformer = models.Transformer(str(bert_dir), max_seq_length=48)
    pooling = models.Pooling(64, "mean")
    model = SentenceTransformer(modules=[transformer, pooling, models.Normalize()], device="cpu")
    out = root / "st"
    model.save(str(out))
    return out
