"""Pieces around the service: settings from the environment, near-duplicate keys."""

import os
from pathlib import Path

import pytest

from serving.gateway.dedupe import drop_near_duplicates, near_duplicate_key
from serving.gateway.domain import Candidate
from serving.gateway.settings import PREFIX, GatewaySettings, settings_table, with_table


@pytest.fixture
def env(monkeypatch):
    for name in list(os.environ):
        if name.startswith(PREFIX):
            monkeypatch.delenv(name)

    def set_env(values: dict[str, str]) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
    return set_env


def test_settings_come_from_prefixed_environment_variables(env):
    defaults = GatewaySettings()
    env({"KPDISTILL_GATEWAY_PORT": "0", "KPDISTILL_GATEWAY_MAX_K": "20",
         "KPDISTILL_GATEWAY_BACKEND_TIMEOUT_S": "1.5",
         "KPDISTILL_GATEWAY_ITEM_FIELDS": "title, description",
         "KPDISTILL_GATEWAY_SEARCH_EF": "", "OTHER_PORT": "1"})
    s = GatewaySettings()
    assert (s.port, s.max_k, s.backend_timeout_s) == (0, 20, 1.5)
    assert s.item_fields == ("title", "description")
    assert s.search_ef == defaults.search_ef  # empty: the default
    assert GatewaySettings(max_k=30).max_k == 30  # keyword arguments win


@pytest.mark.parametrize("values, message", [
    ({"KPDISTILL_GATEWAY_PORT": "abc"}, "KPDISTILL_GATEWAY_PORT='abc': Input should be a valid integer"),
    ({"KPDISTILL_GATEWAY_DEFAULT_K": "500"}, "DEFAULT_K must lie in 1..MAX_K"),
    ({"KPDISTILL_GATEWAY_ITEM_FIELDS": "title,price"}, "unknown fields"),
])
def test_bad_settings_name_the_variable(env, values, message):
    env(values)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        GatewaySettings()


def test_unknown_keyword_settings_are_refused():
    with pytest.raises(ValueError, match="KPDISTILL_GATEWAY_MAX_KK"):
        GatewaySettings(max_kk=3)


def test_the_readme_table_is_generated_from_the_settings_model():
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text(encoding="utf-8")
    assert with_table(readme) == readme, \
        "run: python -m serving.gateway.settings --write README.md"
    for name, field in GatewaySettings.model_fields.items():
        assert field.description, name
        assert f"`{PREFIX}{name.upper()}`" in settings_table()


@pytest.mark.parametrize("a, b", [
    ("running shoes men", "men's running shoe"),
    ("Running-Shoes for men", "running shoes men"),
    ("wine glasses", "glass wine"),
    ("boxes", "box"),
])
def test_near_duplicates_share_a_key(a, b):
    assert near_duplicate_key(a) == near_duplicate_key(b)


@pytest.mark.parametrize("a, b", [
    ("running shoes", "trail running shoes"), ("wine glass", "wine"), ("glass", "glasses case"),
])
def test_different_phrases_keep_different_keys(a, b):
    assert near_duplicate_key(a) != near_duplicate_key(b)


def test_drop_keeps_the_best_ranked_of_each_group_in_order():
    def c(text, score):
        return Candidate(text, text, text.lower(), "", "esci", score)

    ranked = [c("wine glasses", 0.9), c("trail shoes", 0.8), c("Wine Glass", 0.7), c("shoe", 0.6)]
    assert [x.text for x in drop_near_duplicates(ranked)] == ["wine glasses", "trail shoes", "shoe"]
