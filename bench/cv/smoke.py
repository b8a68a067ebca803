"""``python -m bench.cv.smoke --work DIR``: every stage of the benchmark on a CPU in minutes.

15 queries, a few dozen keyphrases, a handful of steps, and a tiny randomly initialised
judge (a 2-layer Llama with SmolLM2's tokenizer): it checks the wiring, not the quality.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cv.config import CONFIG_DIR


def build_tiny_judge(out: Path, seed: int = 0) -> Path:
    """A tiny random causal LM with a real chat tokenizer: real forward passes, KV caches."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from components.judge.weights import judge_model_path

    tokenizer = AutoTokenizer.from_pretrained(judge_model_path("smollm2-135m-instruct"))
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--config", type=Path, default=CONFIG_DIR / "smoke.yaml",
                        help="a smoke-sized config (default: smoke.yaml)")
    args = parser.parse_args(argv)
    work = args.work
    judge = work / "tiny-judge"
    if not (judge / "config.json").is_file():
        build_tiny_judge(judge)
    config = work / "smoke.yaml"
    config.write_text(args.config.read_text() + f"judge_dir: {judge}\n")
    from bench.cv.__main__ import main as run

    return run(["--config", str(config), "--work", str(work / "run")])


if __name__ == "__main__":
    raise SystemExit(main())
