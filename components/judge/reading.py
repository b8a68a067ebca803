"""Reading the judge's answer: grade-token logits or logprobs -> a soft label over E/S/C/I.

One forward pass gives the next-token distribution after the prompt. The soft label is that
distribution restricted to the answer words' first tokens (every spelling variant of a grade
pooled) and renormalised; grades the rubric has no word for get probability 0 (the binary
rubric: Yes -> E, No -> I, see ``components.judge.rubric.Rubric``). If the grade tokens together hold less than ``min_grade_mass`` of
the probability, the model wanted to say something else: the answer is unreadable.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from components.judge.rubric import GRADE_WORDS, GRADES

RELEVANT = ("E", "S")


@dataclass(frozen=True)
class SoftLabel:
    """The judge's answer for one pair."""

    status: str                      # "ok" | "unreadable"
    probs: dict[str, float] | None   # over GRADES, sums to 1 when ok
    raw: str = ""                    # what the model said (top token or text)
    grade_mass: float | None = None  # share of probability on grade tokens

    @property
    def grade(self) -> str | None:
        return max(self.probs, key=self.probs.get) if self.probs else None

    @property
    def p_relevant(self) -> float | None:
        return p_relevant(self.probs) if self.probs else None


def p_relevant(probs: Mapping[str, float]) -> float:
    """P(relevant) = P(E) + P(S) (exact + substitute): ESCI's E∪S, the relevance label."""
    return float(sum(probs[g] for g in RELEVANT))


def grade_variants(word: str) -> list[str]:
    """Spellings whose first token announces the grade word."""
    return sorted({word, " " + word, word.lower(), " " + word.lower(), word.upper()})


def grade_token_ids(encode, words: Mapping[str, str] = GRADE_WORDS) -> dict[str, list[int]]:
    """First token id of every spelling of each answer word. ``encode(text) -> list[int]``.

    ``words`` maps grade -> answer word (a rubric's ``words``); only those grades are read.

    Raises ValueError when two grades share a first token: their probabilities could not be
    told apart from one forward pass.
    """
    ids: dict[str, list[int]] = {}
    owner: dict[int, str] = {}
    for grade in (g for g in GRADES if g in words):
        found = []
        for variant in grade_variants(words[grade]):
            tokens = encode(variant)
            if not tokens:
                continue
            tid = int(tokens[0])
            if owner.setdefault(tid, grade) != grade:
                continue  # ambiguous spelling (e.g. a bare space): not evidence for either
            if tid not in found:
                found.append(tid)
        if not found:
            raise ValueError(f"grade {grade} ({words[grade]}) has no distinct first token")
        ids[grade] = found
    shared = {t for t, g in owner.items() if sum(t in v for v in ids.values()) > 1}
    if shared:
        raise ValueError(f"grade tokens shared between grades: {sorted(shared)}")
    return ids


def _logsumexp(values: np.ndarray) -> float:
    top = float(np.max(values))
    return top + math.log(float(np.sum(np.exp(values - top))))


def soft_label_from_logits(logits: np.ndarray, token_ids: Mapping[str, Iterable[int]],
                           min_grade_mass: float = 0.05, raw: str = "") -> SoftLabel:
    """Soft label from one position's vocabulary logits (shape ``(vocab,)``)."""
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 1:
        raise ValueError(f"expected logits of shape (vocab,), got {logits.shape}")
    if not np.all(np.isfinite(logits)):
        return SoftLabel("unreadable", None, raw or "non-finite logits")
    log_z = _logsumexp(logits)
    grade_logp = {g: _logsumexp(logits[list(ids)]) - log_z for g, ids in token_ids.items()}
    return _from_log_probs(grade_logp, min_grade_mass, raw)


def soft_labels_from_logits(logits, token_ids: Mapping[str, Iterable[int]],
                            min_grade_mass: float = 0.05,
                            decode: Callable[[int], str] | None = None) -> list[SoftLabel]:
    """Soft labels of a batch of next-token logits, a ``(batch, vocab)`` torch tensor.

    The same reading as :func:`soft_label_from_logits`, row by row, but the reductions
    (log-normaliser, each grade's pooled log-probability, the top token) run where the logits
    are, so only ``batch x (grades + 2)`` numbers reach the host instead of whole vocabulary
    rows. ``decode(token_id)`` gives the raw answer text of each row's top token.
    """
    import torch

    if logits.dim() != 2:
        raise ValueError(f"expected logits of shape (batch, vocab), got {tuple(logits.shape)}")
    x = logits.float()
    finite = torch.isfinite(x).all(dim=-1)
    log_z = torch.logsumexp(x, dim=-1)
    names = list(token_ids)
    columns = []
    for name in names:
        ids = list(token_ids[name])
        columns.append(torch.logsumexp(x[:, ids], dim=-1) - log_z if ids
                       else torch.full_like(log_z, -math.inf))
    grade_logp = (torch.stack(columns, dim=-1) if columns
                  else x.new_empty((x.shape[0], 0))).double().cpu().numpy()
    top = x.argmax(dim=-1).cpu().tolist()
    finite = finite.cpu().tolist()
    out = []
    for row, ok, top_id in zip(grade_logp, finite, top, strict=True):
        raw = decode(int(top_id)) if decode else ""
        if not ok:
            out.append(SoftLabel("unreadable", None, raw or "non-finite logits"))
        else:
            out.append(_from_log_probs(dict(zip(names, row.tolist(), strict=True)),
                                       min_grade_mass, raw))
    return out


def _from_log_probs(grade_logp: Mapping[str, float], min_grade_mass: float,
                    raw: str) -> SoftLabel:
    values = np.array([grade_logp.get(g, -math.inf) for g in GRADES], dtype=np.float64)
    if not np.isfinite(values).any():
        return SoftLabel("unreadable", None, raw, 0.0)
    mass = float(np.exp(values[np.isfinite(values)]).sum())
    top = values[np.isfinite(values)].max()
    weights = np.exp(values - top)
    probs = {g: float(w) for g, w in zip(GRADES, weights / weights.sum(), strict=True)}
    if mass < min_grade_mass:
        return SoftLabel("unreadable", None, raw, mass)
    return SoftLabel("ok", probs, raw, mass)


_WORD = re.compile(r"[A-Za-z]+")


def grade_of_text(text: str, words: Mapping[str, str] = GRADE_WORDS) -> str | None:
    """The grade named by the first word of an answer (" Yes.", "partly"), else None."""
    match = _WORD.search(text or "")
    if not match:
        return None
    word = match.group(0).lower()
    for grade, name in words.items():
        if word == name.lower() or (len(word) >= 2 and name.lower().startswith(word)):
            return grade
    return None


def soft_label_from_top_logprobs(top: Iterable[tuple[str, float]], text: str,
                                 min_grade_mass: float = 0.05,
                                 words: Mapping[str, str] = GRADE_WORDS) -> SoftLabel:
    """Soft label from an endpoint's first-token ``top_logprobs`` (token text, logprob).

    Tokens naming the same grade are pooled. Without usable logprobs, a text that names a
    grade gives a one-hot label; anything else is unreadable (kept with its raw text).
    """
    pooled: dict[str, list[float]] = {}
    for token, logprob in top:
        grade = grade_of_text(token, words)
        if grade is not None and math.isfinite(logprob):
            pooled.setdefault(grade, []).append(float(logprob))
    if pooled:
        grade_logp = {g: _logsumexp(np.array(v)) for g, v in pooled.items()}
        label = _from_log_probs(grade_logp, min_grade_mass, text)
        if label.status == "ok":
            return label
    grade = grade_of_text(text, words)
    if grade is None:
        return SoftLabel("unreadable", None, text)
    return SoftLabel("ok", {g: float(g == grade) for g in GRADES}, text, None)
