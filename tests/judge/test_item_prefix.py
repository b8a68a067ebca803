"""Item-first prefix sharing in LocalJudge, and measure_throughput.

Tiny random models in fp32 on the CPU: sharing each item's prompt part (its KV cache
computed once, index-selected for every pair of the item) must give what a plain batched
run and one unpadded forward pass per pair give.
"""

import random

import pytest
import torch

from components.data.esci import Item
from components.judge.backend import JudgeRequest
from components.judge.local import LocalJudge, item_prompt_part, split_template
from components.judge.rubric import (
    BINARY,
    EXACT,
    EXACT_FULL,
    EXACT_FULL_LIMITS,
    GRADED,
    SHARED,
    RenderLimits,
    render_user_message,
)
from components.judge.throughput import measure_throughput
from components.models.pretrained import WeightsError

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("one_thread")]

TOL = 1e-4
ITEMS = [
    Item(item_id="a", title="Red mug", brand="Acme", category="Kitchen",
         bullet_points="Holds 300 ml; dishwasher safe"),
    Item(item_id="b", title="Stainless steel water bottle with a very long title " * 3,
         brand="Hydra", category="Sports > Water Bottles",
         bullet_points="Keeps drinks cold for 24 hours. " * 4),
    Item(item_id="c", title="Tent"),
    Item(item_id="d", title='Phone case 6.1" for a small phone </product>', brand="Case<Co>"),
    Item(item_id="e", title="Wool socks, 3 pairs", brand="", category="Clothing"),
]
KEYPHRASES = {
    "a": ["red mug", "coffee cup 12 oz", "mug"],
    "b": ["water bottle", "insulated bottle for hiking", "bottle", "gym flask 750ml"],
    "c": ["tent"],
    "d": ["iphone case", "phone cover with a very long keyphrase about phones and cases"],
    "e": ["socks", "warm winter socks", "wool"],
}


def _requests(seed: int = 3) -> list[JudgeRequest]:
    reqs = [JudgeRequest(item, kp) for item in ITEMS for kp in KEYPHRASES[item.item_id]]
    random.Random(seed).shuffle(reqs)
    return reqs


def _logits(judge: LocalJudge, requests) -> torch.Tensor:
    batches = (judge._batches_shared_items(requests) if judge.item_prefix
               else judge._batches(requests))
    out = torch.empty((len(requests), len(judge.tokenizer)))
    seen = set()
    for batch, logits in batches:
        out[batch] = logits[:, :out.shape[1]]
        seen.update(batch)
    assert seen == set(range(len(requests)))
    return out


def _assert_split_tokenizes_like_the_whole(tokenizer, rubric, limits, requests):
    def encode(text):
        return tokenizer.encode(text, add_special_tokens=False)

    prefix, tail = split_template(tokenizer, limits, rubric)
    for req in requests:
        user = render_user_message(req.item, req.keyphrase, limits, rubric)
        item = item_prompt_part(req.item, limits, rubric)
        assert user.startswith(item) and item.endswith(">\n")
        whole = encode(prefix + user + tail)
        assert encode(prefix) + encode(item) + encode(user[len(item):] + tail) == whole


@pytest.fixture(scope="module")
def qwen_tokenizer():
    """The 0.5B Qwen judge's real tokenizer (its conversion is shared with test_injection)."""
    from transformers import AutoTokenizer

    from components.judge.weights import judge_model_path
    try:
        return AutoTokenizer.from_pretrained(judge_model_path("qwen2.5-coder-0.5b-instruct"))
    except WeightsError as exc:
        pytest.skip(f"no Qwen judge weights here: {exc}")


@pytest.fixture(scope="module")
def tiny_qwen_dir(qwen_tokenizer, tmp_path_factory):
    """A 2-layer random Qwen2 around the real Qwen tokenizer and chat template."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    out = tmp_path_factory.mktemp("tiny-qwen")
    torch.manual_seed(1)
    config = Qwen2Config(vocab_size=len(qwen_tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                         max_position_embeddings=2048, tie_word_embeddings=True)
    Qwen2ForCausalLM(config).save_pretrained(out)
    qwen_tokenizer.save_pretrained(out)
    return out


@pytest.mark.parametrize("rubric,limits", [(BINARY, RenderLimits()), (EXACT, RenderLimits()),
                                           (EXACT_FULL, EXACT_FULL_LIMITS),
                                           (SHARED, RenderLimits())])
def test_split_tokenizes_like_the_whole_prompt_smollm2(tiny_judge_dir, rubric, limits):
    from transformers import AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(tiny_judge_dir)
    _assert_split_tokenizes_like_the_whole(tokenizer, rubric, limits, _requests())


@pytest.mark.parametrize("rubric,limits", [(BINARY, RenderLimits()), (EXACT, RenderLimits()),
                                           (EXACT_FULL, EXACT_FULL_LIMITS),
                                           (SHARED, RenderLimits())])
def test_split_tokenizes_like_the_whole_prompt_qwen(qwen_tokenizer, rubric, limits):
    _assert_split_tokenizes_like_the_whole(qwen_tokenizer, rubric, limits, _requests())


def test_item_prefix_needs_a_product_first_rubric(tiny_judge_dir):
    with pytest.raises(ValueError, match="product_first"):
        LocalJudge(tiny_judge_dir, "tiny", device="cpu", item_prefix=True, rubric=GRADED)


def _check_equivalence(model_dir, rubric, limits, batch_size, group):
    reqs = _requests()
    common = dict(device="cpu", min_grade_mass=0.0, rubric=rubric, limits=limits)
    shared = LocalJudge(model_dir, "tiny", batch_size=batch_size, item_prefix=True,
                        item_group_size=group, **common)
    plain = LocalJudge(model_dir, "tiny", batch_size=batch_size, **common)
    single = LocalJudge(model_dir, "tiny", batch_size=1, prefix_cache=False, **common)

    # Whole next-token distributions, row by row.
    reference = _logits(single, reqs)
    assert (_logits(shared, reqs) - reference).abs().max() < TOL
    assert (_logits(plain, reqs) - reference).abs().max() < TOL

    # Soft labels in input order: one pair at a time is the reference.
    one_by_one = [single.judge([r])[0] for r in reqs]
    for labels in (shared.judge(reqs), plain.judge(reqs)):
        assert len(labels) == len(reqs)
        for a, b in zip(labels, one_by_one, strict=True):
            assert a.p_relevant == pytest.approx(b.p_relevant, abs=TOL)
            for grade in "ESCI":
                assert a.probs[grade] == pytest.approx(b.probs[grade], abs=TOL)
    return shared, plain


@pytest.mark.parametrize("batch_size,group", [(1, 1), (3, 2), (4, None), (64, 64)])
def test_item_prefix_equals_unshared_and_one_pair_at_a_time(tiny_judge_dir, batch_size, group):
    _check_equivalence(tiny_judge_dir, EXACT, RenderLimits(), batch_size, group)


def test_item_prefix_equals_unshared_with_bullet_points(tiny_judge_dir):
    _check_equivalence(tiny_judge_dir, EXACT_FULL, EXACT_FULL_LIMITS, 5, 3)


def test_item_prefix_equals_unshared_on_qwen_template(tiny_qwen_dir):
    _check_equivalence(tiny_qwen_dir, BINARY, RenderLimits(), 4, 2)


def test_item_prefix_equals_unshared_with_the_question_in_the_prefix(tiny_qwen_dir):
    shared, _ = _check_equivalence(tiny_qwen_dir, SHARED, RenderLimits(), 4, 2)
    assert SHARED.instruction in shared.prefix_text  # asked once, in the cached prefix
    assert SHARED.instruction not in shared.suffix_text(_requests()[0])
    with pytest.raises(ValueError, match="system message"):
        shared.judge_dimensions(_requests()[:1])


def test_item_prefix_runs_each_item_once(tiny_judge_dir):
    reqs = _requests()
    shared = LocalJudge(tiny_judge_dir, "tiny", device="cpu", batch_size=64, item_prefix=True,
                        rubric=EXACT)
    plain = LocalJudge(tiny_judge_dir, "tiny", device="cpu", batch_size=64, rubric=EXACT)
    for judge in (shared, plain):
        judge.judge(reqs[:1])  # builds the rubric prefix's cache
        judge.reset_counters()
        judge.judge(reqs)
    item_tokens = sum(len(shared._encode(item_prompt_part(i, shared.limits, EXACT))) for i in ITEMS)
    saved = sum(len(shared._encode(item_prompt_part(r.item, shared.limits, EXACT))) for r in reqs)
    assert shared.counters["forwards"] == 2  # one item batch, one pair batch
    assert shared.counters["tokens_real"] == plain.counters["tokens_real"] - saved + item_tokens


def test_measure_throughput_counts_tokens_and_flops(tiny_judge_dir):
    reqs = _requests()
    # No sharing, no padding: computed tokens are exactly the prompt tokens.
    single = LocalJudge(tiny_judge_dir, "tiny", device="cpu", batch_size=1, prefix_cache=False,
                        rubric=EXACT)
    stats = measure_throughput(single, reqs, repeats=2)
    assert stats["pairs"] == 2 * len(reqs)
    assert stats["computed_tokens_per_pair"] == pytest.approx(stats["tokens_per_pair"])
    assert stats["padded_tokens_per_pair"] == pytest.approx(stats["tokens_per_pair"])
    assert stats["pairs_per_s"] > 0 and stats["seconds"] > 0
    lengths = [len(single.prefix_ids) + len(single.suffix_ids(r)) for r in reqs]
    cfg = single.model.config
    body = sum(p.numel() for p in single.model.parameters()) - cfg.vocab_size * cfg.hidden_size
    per_pass = sum(2 * body * n + 2 * cfg.vocab_size * cfg.hidden_size
                   + 4 * cfg.num_hidden_layers * cfg.hidden_size * n * (n + 1) // 2
                   for n in lengths)
    assert stats["flops_per_pair"] == pytest.approx(per_pass / len(reqs))
    assert stats["achieved_tflops"] == pytest.approx(
        stats["flops_per_pair"] * stats["pairs_per_s"] / 1e12)

    shared = LocalJudge(tiny_judge_dir, "tiny", device="cpu", batch_size=8, item_prefix=True,
                        rubric=EXACT)
    shared_stats = measure_throughput(shared, reqs)
    assert shared_stats["item_prefix"] and shared_stats["distinct_items"] == len(ITEMS)
    assert shared_stats["tokens_per_pair"] == pytest.approx(stats["tokens_per_pair"])
    assert shared_stats["computed_tokens_per_pair"] < stats["computed_tokens_per_pair"] / 2
    assert shared_stats["flops_per_pair"] < stats["flops_per_pair"]
