"""The interface every judge backend implements: a batch of (item, keyphrase) -> soft labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from components.data.esci import Item
from components.judge.reading import SoftLabel


@dataclass(frozen=True)
class JudgeRequest:
    item: Item
    keyphrase: str


class JudgeBackend(Protocol):
    model_name: str

    def judge(self, requests: Sequence[JudgeRequest]) -> list[SoftLabel]:
        """One soft label per request, in order. Never raises for one bad answer: such an
        answer comes back with status "unreadable" and its raw text."""
        ...

