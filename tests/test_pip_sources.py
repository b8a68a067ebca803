"""requirements/pip_sources.py hands uv the package sources pip would use (make venv)."""

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "requirements" / "pip_sources.py"
spec = importlib.util.spec_from_file_location("pip_sources", SCRIPT)
pip_sources = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pip_sources)

LISTING = """\
:env:.default-timeout='180'
:env:.find-links='/srv/wheels'
global.cert='/etc/ca.pem'
global.extra-index-url='https://a.example/simple https://b.example/simple'
global.find-links='/other/wheels'
global.index-url='https://global.example/simple'
install.index-url='https://install.example/simple'
"""


def test_the_environment_beats_install_beats_global():
    config = pip_sources.parse(LISTING)
    assert config == {"find-links": "/srv/wheels", "cert": "/etc/ca.pem",
                      "extra-index-url": "https://a.example/simple https://b.example/simple",
                      "index-url": "https://install.example/simple"}


def test_uv_gets_one_flag_per_location_and_pips_best_match_over_indexes():
    args = pip_sources.uv_arguments(pip_sources.parse(LISTING))
    assert args == ["--index-url", "https://install.example/simple",
                    "--extra-index-url", "https://a.example/simple",
                    "--extra-index-url", "https://b.example/simple",
                    "--find-links", "/srv/wheels", "--cert", "/etc/ca.pem",
                    "--index-strategy", "unsafe-best-match"]


def test_no_configuration_no_arguments():
    assert pip_sources.uv_arguments(pip_sources.parse("")) == []
    assert pip_sources.uv_arguments(pip_sources.parse(":env:.find-links=''")) == []
