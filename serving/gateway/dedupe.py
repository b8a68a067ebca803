"""Near-duplicate keyphrases: phrases that differ only by word order, plurals or punctuation.

"running shoes men", "men's running shoe" and "Running-Shoes for men" share one key; of
each group the best-ranked keyphrase is kept.
"""

from __future__ import annotations

import re

from serving.gateway.domain import Candidate

_WORD = re.compile(r"[0-9a-z]+")
_STOPWORDS = frozenset({"a", "an", "and", "for", "of", "the", "with", "s"})


def singular(word: str) -> str:
    """A crude English singular: enough to equate 'shoes'/'shoe', 'boxes'/'box'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith(("ches", "shes", "xes", "sses")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def near_duplicate_key(text: str) -> str:
    words = (singular(w) for w in _WORD.findall(text.lower()))
    kept = sorted({w for w in words if w not in _STOPWORDS})
    return " ".join(kept) or text.strip().lower()


def drop_near_duplicates(ranked: list[Candidate]) -> list[Candidate]:
    """Keep the first (best-ranked) keyphrase of each near-duplicate group, in order."""
    seen: set[str] = set()
    out = []
    for candidate in ranked:
        key = near_duplicate_key(candidate.text)
        if key in seen:
            continue
        seen.add(key)
        out.append(candidate)
    return out
