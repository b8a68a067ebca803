"""The pooling mode is read from both sentence-transformers config formats."""

import json

import pytest

from components.export.graphs import student_pooling


def _student(tmp_path, pooling_cfg):
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling_cfg))
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.models.Pooling"}]))
    return tmp_path


@pytest.mark.parametrize(("cfg", "mode"), [
    ({"embedding_dimension": 384, "pooling_mode": "mean", "include_prompt": True}, "mean"),
    ({"word_embedding_dimension": 384, "pooling_mode_cls_token": True}, "cls"),
    ({"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True}, "mean"),
])
def test_pooling_mode_both_formats(tmp_path, cfg, mode):
    assert student_pooling(_student(tmp_path, cfg)) == mode


def test_unknown_pooling_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unsupported pooling"):
        student_pooling(_student(tmp_path, {"pooling_mode": "weightedmean"}))
