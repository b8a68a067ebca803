import pytest

from components.contracts import is_local_uri
from components.indexing.config import DEFAULT_YAML, IndexConfig


def test_default_yaml_loads_and_matches_the_dataclass_defaults():
    assert IndexConfig.from_yaml(DEFAULT_YAML) == IndexConfig()


def test_overrides_win_and_unknown_keys_are_refused(tmp_path):
    assert IndexConfig.from_yaml(DEFAULT_YAML, uri="http://127.0.0.1:1").uri == "http://127.0.0.1:1"
    bad = tmp_path / "bad.yaml"
    bad.write_text("alias: kp\nnlist: 3\n")
    with pytest.raises(ValueError, match="(?s)nlist.*Unexpected keyword argument"):
        IndexConfig.from_yaml(bad)


@pytest.mark.parametrize("kwargs, message", [
    ({"alias": "1bad"}, "alias"), ({"alias": "has-dash"}, "alias"),
    ({"keep_versions": 0}, "keep_versions"), ({"uri": "data/index"}, "must end in .db"), ({"metric_type": "HAMMING"}, "metric_type"),
])
def test_invalid_settings_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IndexConfig(**kwargs)


def test_local_paths_are_lite_and_urls_are_servers():
    assert is_local_uri("artifacts/index/kp.db")
    assert not is_local_uri("http://127.0.0.1:19530")
