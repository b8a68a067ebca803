"""How every step declares and loads its typed config: a frozen pydantic dataclass, from YAML.

    @dataclass(frozen=True, config=STEP_CONFIG)      # pydantic.dataclasses.dataclass
    class ClickConfig: ...

    config = load_yaml(ClickConfig, "components/clicks/config.yaml", seed=3)

Pydantic validates the types (a YAML list becomes the tuple a field declares), unknown keys
fail (``extra="forbid"``, nested sections included), and ``__post_init__`` checks what the
types cannot. They stay dataclasses: ``dataclasses.replace`` re-validates a changed copy.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import ConfigDict, TypeAdapter, ValidationError

STEP_CONFIG = ConfigDict(extra="forbid")
"""The pydantic settings of every step config (frozen is the dataclass's own flag)."""

T = TypeVar("T")


def load_yaml(cls: type[T], path: Path | str, **overrides) -> T:
    """``cls`` from the YAML mapping at ``path``, with top-level ``overrides`` applied (a None
    override keeps the file's value). A bad key or value raises ValueError naming the file."""
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping of settings, got {type(raw).__name__}")
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TypeAdapter(cls).validate_python(raw)
    except ValidationError as exc:
        raise ValueError(f"{path}: {exc}") from None
