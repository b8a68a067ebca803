"""Print this machine's pip package sources as `uv pip install` arguments.

uv does not read pip's configuration (pip.conf, PIP_* variables), so `make venv` asks pip
(`python -m pip config list`) for the index, extra indexes, find-links, CA bundle and
constraints it would use, and hands the same to uv. Extra indexes get pip's rule of the best
version over every index (`--index-strategy unsafe-best-match`); with the exact pins of
requirements/lock.txt that picks what pip picks.

    .venv/bin/python requirements/pip_sources.py   # e.g. --find-links DIR --cert FILE
"""

from __future__ import annotations

import shlex
import subprocess
import sys

# pip option -> uv option; "many": the value is a whitespace-separated list
OPTIONS = {
    "index-url": ("--index-url", False),
    "extra-index-url": ("--extra-index-url", True),
    "find-links": ("--find-links", True),
    "cert": ("--cert", False),
    "constraint": ("--constraint", True),
}
# `pip config list` prints the merged files as section.option, PIP_* variables as :env:.option;
# pip's precedence, highest first: the environment, the [install] section, the [global] one.
SECTIONS = (":env:", "install", "global")


def parse(listing: str) -> dict[str, str]:
    """``pip config list`` lines (``section.option='value'``) -> the value pip uses per option."""
    found: dict[str, tuple[int, str]] = {}
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        section, _, option = key.rpartition(".")
        if not sep or option not in OPTIONS or section not in SECTIONS:
            continue
        rank = SECTIONS.index(section)
        value = value.strip().strip("'\"")
        if option not in found or rank < found[option][0]:
            found[option] = (rank, value)
    return {option: value for option, (_, value) in found.items()}


def uv_arguments(config: dict[str, str]) -> list[str]:
    args: list[str] = []
    for option, (flag, many) in OPTIONS.items():
        value = config.get(option, "").strip()
        for part in value.split() if many else [value] if value else []:
            args += [flag, part]
    if config.get("extra-index-url", "").strip():
        args += ["--index-strategy", "unsafe-best-match"]
    return args


def main() -> int:
    listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"],
                             capture_output=True, text=True, check=False).stdout
    print(shlex.join(uv_arguments(parse(listing))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
