"""Judge config: a rubric by version, item-prefix sharing and the LoRA judge by config."""

import pytest

from components.judge.config import JudgeConfig
from components.judge.local import LocalJudge


def test_rubric_by_version_overrides_answer_mode_and_names_the_stored_prompt():
    config = JudgeConfig(rubric_version="rubric-v7-exact")
    assert config.prompt_version == "rubric-v7-exact"
    assert JudgeConfig().prompt_version == "rubric-v6"
    with pytest.raises(ValueError, match="unknown rubric version"):
        JudgeConfig(rubric_version="rubric-v99")


def test_item_prefix_needs_a_product_first_rubric():
    with pytest.raises(ValueError, match="product_first"):
        JudgeConfig(item_prefix=True, answer_mode="graded")
    assert JudgeConfig(item_prefix=True).item_prefix


def test_a_lora_judge_is_stored_under_its_own_name():
    assert JudgeConfig(model="m").judge_model == "m"
    assert JudgeConfig(model="m", lora_adapter="adapters/fold0").judge_model == "m+lora:fold0"


def test_from_config_builds_the_item_prefix_judge_with_the_chosen_rubric(tiny_judge_dir):
    config = JudgeConfig(model_dir=str(tiny_judge_dir), model="tiny", device="cpu",
                         rubric_version="rubric-v7-exact", item_prefix=True)
    judge = LocalJudge.from_config(config)
    assert judge.item_prefix and judge.prompt_version == "rubric-v7-exact"
    assert judge.model_name == "tiny"


def test_use_rubric_switches_a_loaded_judge_like_a_fresh_one(tiny_judge_dir, item):
    from components.judge.backend import JudgeRequest
    from components.judge.rubric import rubric_by_version

    exact = rubric_by_version("rubric-v7-exact")
    switched = LocalJudge(tiny_judge_dir, "tiny", device="cpu", item_prefix=True)
    switched.judge([JudgeRequest(item, "water bottle")])  # builds the old prefix cache
    switched.use_rubric(exact)
    fresh = LocalJudge(tiny_judge_dir, "tiny", device="cpu", item_prefix=True, rubric=exact)
    requests = [JudgeRequest(item, kp) for kp in ("water bottle", "steel flask")]
    assert switched.prompt_version == "rubric-v7-exact"
    assert [lab.p_relevant for lab in switched.judge(requests)] == pytest.approx(
        [lab.p_relevant for lab in fresh.judge(requests)], abs=1e-6)
    with pytest.raises(ValueError, match="product_first"):
        switched.use_rubric(rubric_by_version("rubric-v4"))
