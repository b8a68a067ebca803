"""Where the committed model-repository templates live, and their pure helper modules."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from components.settings import REPO_ROOT

TEMPLATE_DIR = REPO_ROOT / "model_repository"


def _load(name: str, path: Path) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def tokenization_module() -> ModuleType:
    """``model_repository/tokenizer/1/tokenization.py``, the served tokenizer's logic."""
    return _load("kpdistill_tokenization", TEMPLATE_DIR / "tokenizer" / "1" / "tokenization.py")


def encoding_module() -> ModuleType:
    """``model_repository/encoder/1/encoding.py``, the served encoder's batching and runners."""
    return _load("kpdistill_encoding", TEMPLATE_DIR / "encoder" / "1" / "encoding.py")
