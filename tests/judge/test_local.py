import pytest
import torch

from components.data.esci import Item
from components.device import compute_dtype, pick_device
from components.judge.backend import JudgeRequest
from components.judge.local import LocalJudge

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def judge(tiny_judge_dir):
    return LocalJudge(tiny_judge_dir, "tiny", device="cpu", batch_size=3)


def _requests():
    titles = ["Red mug", "Stainless steel water bottle with a very long title " * 3, "Tent",
              "Phone case for a small phone", "Socks"]
    return [JudgeRequest(Item(item_id=f"i{n}", title=t, category="Home"), f"query {n}")
            for n, t in enumerate(titles)]


def test_cpu_runs_fp32():
    device = pick_device("cpu")
    assert device.type == "cpu" and compute_dtype(device) == torch.float32


def test_prefix_is_shared_and_suffix_holds_the_pair(judge):
    req = _requests()[0]
    assert judge.prompt_text(req).startswith(judge.prefix_text)
    assert "Red mug" not in judge.prefix_text and "Red mug" in judge.suffix_text(req)
    assert judge.prefix_text.rstrip().endswith("user") or "<product>" not in judge.prefix_text


def test_soft_labels_are_distributions(judge):
    labels = judge.judge(_requests())
    assert len(labels) == 5
    for label in labels:
        if label.status == "ok":
            assert sum(label.probs.values()) == pytest.approx(1.0)
            assert 0.0 <= label.p_relevant <= 1.0


def test_prefix_cache_and_batching_do_not_change_the_answer(judge):
    """KV-cache reuse + left padding must equal one full, unpadded forward pass per pair."""
    reqs = _requests()
    judge.min_grade_mass = 0.0  # compare raw distributions even where a real run would refuse
    cached = judge.judge(reqs)
    judge.prefix_cache, judge.batch_size = False, 1
    try:
        single = judge.judge(reqs)
    finally:
        judge.prefix_cache, judge.batch_size = True, 3
    for a, b in zip(cached, single, strict=True):
        for grade in "ESCI":
            assert a.probs[grade] == pytest.approx(b.probs[grade], abs=1e-4)


def test_results_come_back_in_request_order(judge):
    reqs = _requests()
    judge.min_grade_mass = 0.0
    forward = judge.judge(reqs)
    backward = judge.judge(reqs[::-1])[::-1]
    for a, b in zip(forward, backward, strict=True):
        assert a.probs["E"] == pytest.approx(b.probs["E"], abs=1e-4)


def test_unreadable_when_grade_tokens_hold_too_little_mass(tiny_judge_dir):
    strict = LocalJudge(tiny_judge_dir, "tiny", device="cpu", min_grade_mass=0.99)
    labels = strict.judge(_requests()[:2])
    assert all(label.status == "unreadable" and label.raw for label in labels)
