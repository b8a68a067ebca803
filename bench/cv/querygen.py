"""Keyphrases generated from item text by the judge's instruct LLM (doc2query, as in GPL).

The mined phrases (``components.data.mining``) are attribute n-grams ("stainless steel",
"dishwasher safe") and the WANDS queries are furniture: neither looks like the buyer queries
the student must rank for. Asking an instruct LLM for the query a shopper would type to find
an item gives short, query-shaped keyphrases about this catalogue's own products, which the
judge then labels like any other training keyphrase (Wang et al., "GPL: Generative Pseudo
Labeling for Unsupervised Domain Adaptation of Dense Retrieval", NAACL 2022, generate queries
from the target corpus the same way). No human label is used; the caller passes the texts that
must never become training keyphrases (evaluation queries) as ``exclude``.

An answer that is not a usable keyphrase (empty, a sentence, refusal, too long) is dropped and
counted, never guessed into one. It is an experiment of the benchmark, not a pipeline stage:
on the H200 the 1.5B judge mostly copied product titles (docs/results/training.md, round 2).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from components.data.esci import Item
from components.data.keyphrases import normalize_keyphrase

INSTRUCTION = ("Write the search query a shopper would type into an online store's search box "
               "to find this product. Answer with the query only: 2 to 6 words, lowercase.")
MIN_WORDS, MAX_WORDS = 2, 8
_QUOTES = "\"'`“”‘’«»"
_LEAD = re.compile(r"^(?:search query|query|answer|keyphrase)\s*[:\-]\s*", re.IGNORECASE)
_ALLOWED = re.compile(r"^[\w\s&/+.,'-]+$")


@dataclass(frozen=True)
class GeneratedKeyphrase:
    item_id: str        # the item whose text it was generated from
    text: str
    normalized: str


@dataclass
class GenerationStats:
    items: int = 0
    kept: int = 0
    dropped: Counter = field(default_factory=Counter)  # reason -> count

    def to_dict(self) -> dict:
        return {"items": self.items, "kept": self.kept, "dropped": dict(self.dropped)}


def item_prompt(item: Item, max_chars: int = 240) -> str:
    lines = [f"Product: {item.title[:max_chars]}"]
    if item.brand:
        lines.append(f"Brand: {item.brand[:60]}")
    if item.category:
        lines.append(f"Category: {item.category[:120]}")
    return "\n".join(lines) + "\n\n" + INSTRUCTION


def render(tokenizer, item: Item) -> str:
    """The chat prompt (the model's own template) for one item, ready for generation."""
    messages = [{"role": "user", "content": item_prompt(item)}]
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{item_prompt(item)}\nQuery:"


def clean_answer(answer: str) -> tuple[str | None, str]:
    """(keyphrase, "") for a usable answer, else (None, why): its first line, quotes and a
    leading "Query:" stripped, lower-cased, 2 to 8 words of plain characters."""
    line = next((ln.strip() for ln in answer.strip().splitlines() if ln.strip()), "")
    line = _LEAD.sub("", line).strip().strip(_QUOTES).strip().rstrip(".!?;:").strip()
    if not line:
        return None, "empty"
    if not _ALLOWED.match(line):
        return None, "characters"
    words = line.lower().split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return None, "length"
    return " ".join(words), ""


def generate_keyphrases(model, tokenizer, items: Sequence[Item], exclude: Iterable[str] = (),
                        batch_size: int = 64, max_new_tokens: int = 16
                        ) -> tuple[list[GeneratedKeyphrase], GenerationStats]:
    """One greedy query per item; duplicates (normalised) and ``exclude`` texts dropped."""
    import torch

    if batch_size < 1 or max_new_tokens < 1:
        raise ValueError("batch_size and max_new_tokens must be >= 1")
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id or 0
    seen = {normalize_keyphrase(t) for t in exclude}
    excluded = set(seen)
    stats = GenerationStats(items=len(items))
    out: list[GeneratedKeyphrase] = []
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        rows = [tokenizer(render(tokenizer, it), add_special_tokens=False)["input_ids"]
                for it in batch]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):  # left padding: every prompt ends where generation starts
            ids[i, width - len(r):] = torch.tensor(r)
            mask[i, width - len(r):] = 1
        with torch.inference_mode():
            generated = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device),
                                       max_new_tokens=max_new_tokens, do_sample=False,
                                       pad_token_id=pad)
        answers = tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)
        for item, answer in zip(batch, answers, strict=True):
            text, why = clean_answer(answer)
            if text is None:
                stats.dropped[why] += 1
                continue
            norm = normalize_keyphrase(text)
            if norm in seen:
                stats.dropped["excluded" if norm in excluded else "duplicate"] += 1
                continue
            seen.add(norm)
            out.append(GeneratedKeyphrase(item.item_id, text, norm))
    stats.kept = len(out)
    return out, stats
