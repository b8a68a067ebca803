import numpy as np
import pytest
import torch

from components.losses import MultipleNegativesRankingLoss, PearsonDistillationLoss
from components.training.examples import ListExample, PairExample
from components.training.multitask import (
    Task,
    batch_stream,
    collate,
    task_schedule,
    train_multitask,
)


def pairs(n, keyphrases=4):
    return [PairExample(f"kp{i % keyphrases}", f"item {i}", 0.5) for i in range(n)]


def lists(n):
    return [ListExample(f"kp{i}", ("a", "b", "c"), (0.9, 0.5, 0.1)) for i in range(n)]


def test_round_robin_and_proportional_schedules():
    a = Task("a", pairs(30), MultipleNegativesRankingLoss(), 2)
    b = Task("b", pairs(10), MultipleNegativesRankingLoss(), 2)
    assert task_schedule([a, b], 5, "round_robin") == ["a", "b", "a", "b", "a"]
    drawn = task_schedule([a, b], 4000, "proportional", seed=1)
    assert drawn.count("a") / len(drawn) == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="sampler"):
        task_schedule([a], 3, "random")


def test_weighted_schedule_gives_each_task_its_weights_share_of_steps():
    """Weights are step shares whatever the task sizes (30 vs 10 examples here)."""
    a = Task("a", pairs(30), MultipleNegativesRankingLoss(), 2, weight=1.0)
    b = Task("b", pairs(10), MultipleNegativesRankingLoss(), 2, weight=3.0)
    drawn = task_schedule([a, b], 4000, "weighted", seed=2)
    assert drawn.count("b") / len(drawn) == pytest.approx(0.75, abs=0.03)
    assert task_schedule([a, b], 50, "weighted", seed=2) == drawn[:50]  # seeded
    zero = Task("z", pairs(5), MultipleNegativesRankingLoss(), 2, weight=0.0)
    assert "z" not in task_schedule([a, zero], 200, "weighted")
    with pytest.raises(ValueError, match="weights"):
        task_schedule([zero], 3, "weighted")


def test_unique_keyphrase_batches_never_repeat_a_keyphrase():
    task = Task("c", pairs(40, keyphrases=5), MultipleNegativesRankingLoss(), 8,
                unique_keyphrases=True)
    stream = batch_stream(task, seed=0)
    for _ in range(20):
        batch = next(stream)
        assert len(batch) == 5  # capped at the number of distinct keyphrases
        assert len({e.keyphrase for e in batch}) == len(batch)


def test_collate_shapes():
    b = collate(lists(2))
    assert b.list_size == 3 and b.labels.shape == (2, 3) and len(b.items) == 6
    p = collate(pairs(3))
    assert p.list_size == 1 and p.labels.shape == (3,) and p.groups.shape == (3,)


def test_task_without_examples_is_an_error():
    with pytest.raises(ValueError, match="no examples"):
        Task("empty", [], MultipleNegativesRankingLoss(), 4)


@pytest.mark.slow
def test_multitask_training_lowers_loss_and_keeps_best_checkpoint(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    click = Task("clicks", [PairExample(f"red shoe {i}", f"red shoe model {i}")
                            for i in range(8)], MultipleNegativesRankingLoss(), 8,
                 unique_keyphrases=True)
    distill = Task("distill", lists(4), PearsonDistillationLoss(), 2)
    calls = []

    def validate(m):
        calls.append(1)
        return -len(calls)  # the first evaluation is the best

    before = {k: v.clone() for k, v in model.state_dict().items()}
    stats = train_multitask(model, [click, distill], steps=6, sampler="round_robin",
                            learning_rate=1e-3, warmup_fraction=0.1,
                            device=torch.device("cpu"), validate=validate, eval_every=2)
    assert stats.steps == 6 and stats.examples == {"clicks": 24, "distill": 6}
    assert [s for s, _ in stats.validation] == [2, 4, 6] and stats.best_step == 2
    changed = any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert changed


def test_round_robin_scales_each_task_loss_by_its_weight(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    first_loss = {}
    for weight in (1.0, 0.25):
        torch.manual_seed(0)  # same dropout masks in both runs
        model = SentenceTransformer(str(tiny_model_dir), device="cpu")
        distill = Task("distill", lists(4), PearsonDistillationLoss(), 2, weight=weight)
        stats = train_multitask(model, [distill], steps=1, sampler="round_robin",
                                learning_rate=1e-3, warmup_fraction=0.0,
                                device=torch.device("cpu"), seed=3)
        first_loss[weight] = stats.losses["distill"][0]
    assert first_loss[1.0] != 0.0
    assert first_loss[0.25] == pytest.approx(0.25 * first_loss[1.0], rel=1e-3, abs=1e-5)


def test_token_cache_batches_equal_the_models_own_tokenization(tiny_model_dir):
    from sentence_transformers import SentenceTransformer

    from components.contracts import ITEM_FIELDS
    from components.data import load_items
    from components.training.multitask import TokenCache, _prepare, task_texts

    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    items = list(load_items().values())[:40]
    texts = ([it.text(ITEM_FIELDS) for it in items]            # long: truncated at 48 tokens
             + ["red shoe", "  padded  ", "", "Ünïcode — dash", "red shoe"])
    cache = TokenCache(model, texts[:20], chunk=7)
    assert len(cache) == 20
    for batch in (texts[:5], texts[18:30], texts[30:], [texts[3]] * 3):
        expected = {k: v for k, v in _prepare(model)(batch).items() if torch.is_tensor(v)}
        got = cache.features(batch, torch.device("cpu"))
        assert set(got) == set(expected)
        for key in expected:
            assert torch.equal(got[key], expected[key]), key
    assert len(cache) == len(set(texts))  # texts met later were added once
    task = Task("t", [PairExample("kp", "item a"), ListExample("kp2", ("b", "c"), (0.1, 0.2))],
                PearsonDistillationLoss(), 1)
    assert task_texts([task]) == ["kp", "item a", "kp2", "b", "c"]


def test_validation_encoder_sorts_by_length_and_returns_the_given_order(tiny_model_dir):
    """Length-sorted batches (little padding) over one token cache give each text the
    embedding it gets alone, in the order asked, at every call."""
    from sentence_transformers import SentenceTransformer

    from components.contracts import ITEM_FIELDS
    from components.data import load_items
    from components.training.multitask import embed
    from components.training.student import InMemoryEncoder

    model = SentenceTransformer(str(tiny_model_dir), device="cpu").eval()
    items = list(load_items().values())[:30]
    texts = ["red shoe", *[it.text(ITEM_FIELDS) for it in items], "a", "red shoe", "water bottle"]
    with torch.inference_mode():
        alone = np.stack([torch.nn.functional.normalize(
            embed(model, [t], torch.device("cpu")).float(), dim=-1)[0].numpy() for t in texts])
    encoder = InMemoryEncoder(model, batch_size=8)
    for _ in range(2):  # the second call reads every text's tokens from the cache
        got = encoder.encode(texts)
        assert got.shape == alone.shape
        np.testing.assert_allclose(got, alone, atol=1e-5)
    assert len(encoder._tokens) == len(set(texts))
    truncated = InMemoryEncoder(model, truncate_dim=16).encode(texts)
    assert truncated.shape == (len(texts), 16)
    np.testing.assert_allclose(np.linalg.norm(truncated, axis=1), 1.0, atol=1e-5)
    assert encoder.encode([]).shape[0] == 0


def test_a_batch_embeds_keyphrases_and_items_in_their_own_passes(tiny_model_dir):
    """Each side padded to its own longest text gives the embeddings (and gradients) of one
    pass over both sides padded to the longest of all."""
    from sentence_transformers import SentenceTransformer

    from components.training.multitask import TokenCache, embed, embed_batch

    model = SentenceTransformer(str(tiny_model_dir), device="cpu").eval()  # no dropout
    examples = [PairExample("red shoe", "Red Running Shoes for men, breathable mesh upper, "
                            "rubber sole, sizes 7 to 13", 1.0),
                PairExample("bottle", "Stainless Steel Water Bottle 32 oz", 0.5),
                PairExample("novel", "Midnight Sun: a novel in hardcover", 0.2)]
    batch = collate(examples)
    cache = TokenCache(model, batch.keyphrases + batch.items)
    cpu = torch.device("cpu")
    keyphrases, items = embed_batch(model, batch, cpu, cache)
    (keyphrases.sum() + 2 * items.sum()).backward()
    split_grads = [None if p.grad is None else p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    both = embed(model, batch.keyphrases + batch.items, cpu, cache)
    (both[:3].sum() + 2 * both[3:].sum()).backward()
    torch.testing.assert_close(keyphrases, both[:3], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(items, both[3:], atol=1e-5, rtol=1e-4)
    joint_grads = [p.grad for p in model.parameters()]
    assert [g is None for g in split_grads] == [g is None for g in joint_grads]
    assert sum(g is not None for g in split_grads) > 10
    for split, joint in zip(split_grads, joint_grads, strict=True):
        if split is not None:
            torch.testing.assert_close(split, joint, atol=1e-5, rtol=1e-3)


def test_the_demo_students_validate_once_at_their_last_step(tiny_model_dir):
    """Each validation is a pass over the validation texts: the demo's students run one, at
    the last step, and ship that step's weights."""
    from sentence_transformers import SentenceTransformer

    from components.training.config import DEMO_CONFIG, load_config

    student = load_config(DEMO_CONFIG).student
    assert student.eval_every == student.max_steps
    model = SentenceTransformer(str(tiny_model_dir), device="cpu")
    click = Task("clicks", [PairExample(f"red shoe {i}", f"red shoe model {i}")
                            for i in range(8)], MultipleNegativesRankingLoss(), 4,
                 unique_keyphrases=True)
    stats = train_multitask(model, [click], steps=3, sampler="round_robin",
                            learning_rate=1e-3, warmup_fraction=0.1, device=torch.device("cpu"),
                            validate=lambda m: 0.5, eval_every=3)
    assert stats.validation == [(3, 0.5)] and stats.best_step == 3
