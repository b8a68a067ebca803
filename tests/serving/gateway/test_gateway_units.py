"""Pieces around the service: settings from the environment, near-duplicate keys."""

import pytest

from serving.gateway.dedupe import drop_near_duplicates, near_duplicate_key
from serving.gateway.domain import Candidate
from serving.gateway.settings import GatewaySettings


def test_settings_come_from_prefixed_environment_variables():
    s = GatewaySettings.from_env({"KPDISTILL_GATEWAY_PORT": "0", "KPDISTILL_GATEWAY_MAX_K": "20",
                                  "KPDISTILL_GATEWAY_BACKEND_TIMEOUT_S": "1.5",
                                  "KPDISTILL_GATEWAY_ITEM_FIELDS": "title, description",
                                  "OTHER_PORT": "1"})
    assert (s.port, s.max_k, s.backend_timeout_s) == (0, 20, 1.5)
    assert s.item_fields == ("title", "description")
    assert GatewaySettings.from_env({}) == GatewaySettings()


@pytest.mark.parametrize("env, message", [
    ({"KPDISTILL_GATEWAY_PORT": "abc"}, "KPDISTILL_GATEWAY_PORT='abc': expected int"),
    ({"KPDISTILL_GATEWAY_DEFAULT_K": "500"}, "DEFAULT_K must lie in 1..MAX_K"),
    ({"KPDISTILL_GATEWAY_ITEM_FIELDS": "title,price"}, "unknown fields"),
])
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        GatewaySettings.from_env(env)


def test_every_setting_is_documented():
    import dataclasses

    import serving.gateway.settings as module

    for f in dataclasses.fields(GatewaySettings):
        assert f"KPDISTILL_GATEWAY_{f.name.upper()}`" in module.__doc__, f.name


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
