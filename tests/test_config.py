"""Every step config is a frozen pydantic dataclass that loads through the one YAML loader."""

import dataclasses

import pytest

from components.clicks.simulator import DEFAULT_CONFIG as CLICKS_YAML
from components.clicks.simulator import ClickConfig
from components.config import load_yaml
from components.export.config import DEFAULT_CONFIG as EXPORT_YAML
from components.export.config import ExportConfig
from components.indexing.config import DEFAULT_YAML as INDEX_YAML
from components.indexing.config import IndexConfig
from components.judge.candidates import DEFAULT_CONFIG as CANDIDATES_YAML
from components.judge.candidates import CandidateConfig
from components.judge.config import DEFAULT_CONFIG as JUDGE_YAML
from components.judge.config import JudgeConfig
from components.training.config import CONFIG_DIR, DEMO_CONFIG, FULL_CONFIG, TrainingConfig

FILES = [(ClickConfig, CLICKS_YAML), (ExportConfig, EXPORT_YAML), (IndexConfig, INDEX_YAML),
         (CandidateConfig, CANDIDATES_YAML), (JudgeConfig, JUDGE_YAML),
         (TrainingConfig, DEMO_CONFIG), (TrainingConfig, FULL_CONFIG),
         (TrainingConfig, CONFIG_DIR / "gpu.yaml")]
IDS = [f"{cls.__name__}-{path.name}" for cls, path in FILES]


@pytest.mark.parametrize("cls, path", FILES, ids=IDS)
def test_committed_yaml_loads(cls, path):
    config = load_yaml(cls, path)
    assert isinstance(config, cls)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(config, dataclasses.fields(config)[0].name, None)


@pytest.mark.parametrize("cls, path", FILES, ids=IDS)
def test_unknown_keys_fail_naming_the_file(cls, path, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text() + "\nno_such_setting: 1\n")
    with pytest.raises(ValueError, match=r"(?s)bad\.yaml.*no_such_setting"):
        load_yaml(cls, bad)


def test_nested_sections_forbid_unknown_keys_too(tmp_path):
    bad = tmp_path / "judge.yaml"
    bad.write_text("endpoint: {base_url: http://x/v1, retries: 3}\n")
    with pytest.raises(ValueError, match=r"(?s)endpoint\.retries"):
        load_yaml(JudgeConfig, bad)


def test_types_are_validated_and_lists_become_tuples(tmp_path):
    path = tmp_path / "clicks.yaml"
    path.write_text("item_fields: [title, brand]\nseed: '5'\n")
    config = load_yaml(ClickConfig, path)
    assert config.item_fields == ("title", "brand") and config.seed == 5
    path.write_text("seed: many\n")
    with pytest.raises(ValueError, match="seed"):
        load_yaml(ClickConfig, path)


def test_overrides_win_and_none_keeps_the_file_value():
    assert load_yaml(ClickConfig, CLICKS_YAML, seed=3).seed == 3
    assert load_yaml(ClickConfig, CLICKS_YAML, seed=None).seed == ClickConfig().seed


def test_replace_revalidates():
    with pytest.raises(ValueError, match="results_per_query"):
        dataclasses.replace(ClickConfig(), results_per_query=0)
