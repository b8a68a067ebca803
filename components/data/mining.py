"""Keyphrases mined from the catalogue: shopper-like phrases that no query log supplied.

The ESCI queries are few (150) and are the held-out truth, so a realistic keyphrase universe
needs phrases from elsewhere. Sellers already write the words shoppers search for: titles
("Wireless Earbuds for Sports"), the leaf of the category path ("Earbud Headphones") and the
bullet points. :func:`mine_keyphrases` takes contiguous word n-grams from those fields and
keeps the ones that many items share, so each phrase names a kind of product rather than one
listing.

Example::

    items = load_items()
    queries = [normalize_keyphrase(j.query) for j in load_judgments()]
    universe = mined_universe(items, exclude=queries, limit=5000)
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from components.data.esci import Item
from components.data.keyphrases import Keyphrase, normalize_keyphrase

MINED_FIELDS: tuple[str, ...] = ("title", "category", "bullet_points")
"""Item fields phrases are mined from, in the order ``MinedKeyphrase.fields`` lists them."""

NAMING_FIELDS: frozenset[str] = frozenset({"title", "category"})
"""A phrase must appear in one of these at least once: bullet points alone yield sentence
fragments ("true to size", "across the room"); they only add to the count of a named phrase."""

# Any character but letters, digits, spaces, hyphens, apostrophes and '&' (comma, pipe, period,
# slash, bracket, quote, dash...) separates runs of words: n-grams never cross it, so
# "Headphones, Best Wireless" yields no "headphones best".
_SEPARATORS = re.compile(r"[^\w\s'&-]|_")
# A token: letters / digits with inner hyphens or apostrophes ("wi-fi", "women's"), or a lone '&'.
_ALLOWED = re.compile(r"^[^\W_]+(?:['-][^\W_]+)*$|^&$")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})
_DIGITS = re.compile(r"^\d+$")
# A number glued to a word ("12oz", "2-pack", but also "4k", "3d"): a size when the word is a unit.
_NUMBER_WORD = re.compile(r"^\d+-?([a-z]+)$")


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOPWORDS: frozenset[str] = _wordset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each either etc even
ever every few for from further get gets got had has have having he her here hers him his how
however i if in into is it its itself just keep lets let like made make makes may me might more
most much must my no nor not now of off on once one only onto or other our ours out over own
per please same she should since so some such than that the their theirs them then there these
they this those though through thus to too under until up upon us use used uses using very via
was way we well were what when where whether which while who whom whose why will with within
without would yet you your yours yourself
two three four five six seven eight nine ten it's that's there's here's let's what's who's
""")
"""Words no shopper phrase starts or ends with (function words, number words)."""

END_WORDS: frozenset[str] = _wordset("""
compatible including durable adjustable removable suitable designed solid various multiple
""")
"""Modifiers that leave a phrase unfinished when they end it ("set compatible", "durable solid")."""

INNER_WORDS: frozenset[str] = frozenset({"and", "&", "for", "of", "with"})
"""The stopwords a phrase may hold inside ("gifts for men", "salt and pepper")."""

UNITS: frozenset[str] = _wordset("""
oz fl ml l lb lbs g kg mg mcg mm cm m km in inch inches ft feet yd gb tb mb kb mah w kw v hz ghz
mhz mp pcs pc pk ct qt gal ounce ounces pound pounds watt watts volt volts x cu
""")
"""Unit words: a phrase never contains one ("inch tv" is the tail of "55 inch tv")."""

COUNT_WORDS: frozenset[str] = _wordset("pack count piece pieces set sets pair pairs")
"""Words that make a size when glued to a number ("2-pack", "12count"); alone they are fine."""

BOILERPLATE: frozenset[str] = _wordset("""
guarantee guaranteed warranty refund satisfaction customer customers money risk worry
contact email purchase order ordering buy seller amazon package included includes
perfect best great ideal excellent amazing awesome quality premium upgraded upgrade newest
latest new item items product products brand service 100 guide easily easy
""")
"""Listing boilerplate: a phrase with any of these words is seller talk, not a shopper query."""


@dataclass(frozen=True)
class MinedKeyphrase:
    """A phrase found in ``item_count`` distinct items, in the listed item ``fields``."""

    text: str
    normalized: str
    item_count: int
    source: str = "mined"
    fields: tuple[str, ...] = ()


def _field_texts(item: Item) -> Iterator[tuple[str, str]]:
    yield "title", item.title
    if item.category:
        yield "category", item.category.split(">")[-1]
    if item.bullet_points:
        yield "bullet_points", item.bullet_points


def _is_measure(token: str) -> bool:
    match = _NUMBER_WORD.match(token)
    return bool(match) and (match.group(1) in UNITS or match.group(1) in COUNT_WORDS)


def _token_ok(token: str) -> bool:
    return (bool(_ALLOWED.match(token)) and token not in UNITS and token not in BOILERPLATE
            and not _is_measure(token) and ("'" not in token or token.endswith("'s")))


def _word_runs(text: str) -> Iterator[list[str]]:
    """Runs of acceptable tokens: separators and unacceptable tokens split the text."""
    for segment in _SEPARATORS.split(normalize_keyphrase(text.translate(_APOSTROPHES))):
        run: list[str] = []
        for token in segment.split():
            token = token.strip("'-")
            if _token_ok(token):
                run.append(token)
            elif run:
                yield run
                run = []
        if run:
            yield run


def _edge_ok(token: str) -> bool:
    return token not in STOPWORDS and token != "&" and not _DIGITS.match(token)


def _inner_ok(token: str) -> bool:
    return token not in STOPWORDS or token in INNER_WORDS


def _ngrams(run: list[str], min_words: int, max_words: int) -> Iterator[str]:
    for start in range(len(run)):
        if not _edge_ok(run[start]):
            continue
        for end in range(start + 1, min(start + max_words, len(run)) + 1):
            last = run[end - 1]
            if (end - start >= min_words and _edge_ok(last) and last not in END_WORDS
                    and not last.endswith("'s")):
                yield " ".join(run[start:end])
            if not _inner_ok(last):
                break  # a longer phrase would hold this word inside


def _sub_phrases(words: list[str], min_words: int) -> Iterator[str]:
    for size in range(min_words, len(words)):
        for start in range(len(words) - size + 1):
            yield " ".join(words[start:start + size])


def mine_keyphrases(items: Mapping[str, Item], exclude: Iterable[str] = (), min_items: int = 3,
                    max_words: int = 4, min_words: int = 2,
                    limit: int | None = None) -> list[MinedKeyphrase]:
    """Word n-grams shared by at least ``min_items`` items, most widely shared first.

    Fields are lower-cased and NFKC-normalised (``normalize_keyphrase``); n-grams of
    ``min_words``..``max_words`` words never cross punctuation, never contain a unit or a
    number glued to a unit, never contain listing boilerplate (``BOILERPLATE``), and never
    start or end with a stopword, a bare number or '&'. An item counts once per phrase
    whatever the field. Phrases whose normalised text is in ``exclude`` (pass the held-out
    query texts) are removed, and then a phrase is dropped when a longer kept phrase holds it
    with the same item count (it never occurs on its own). Sorted by item count, then text;
    ``limit`` keeps the first ones. Deterministic.
    """
    if not 1 <= min_words <= max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {min_words}..{max_words}")
    if min_items < 1:
        raise ValueError(f"min_items must be >= 1, got {min_items}")
    item_ids: dict[str, set[str]] = defaultdict(set)
    fields: dict[str, set[str]] = defaultdict(set)
    for item_id, item in items.items():
        for field, text in _field_texts(item):
            for run in _word_runs(text):
                for phrase in _ngrams(run, min_words, max_words):
                    item_ids[phrase].add(item_id)
                    fields[phrase].add(field)
    excluded = {normalize_keyphrase(e) for e in exclude}
    counts = {p: len(ids) for p, ids in item_ids.items()
              if len(ids) >= min_items and p not in excluded and fields[p] & NAMING_FIELDS}
    covered = {sub for phrase, n in counts.items()
               for sub in _sub_phrases(phrase.split(" "), min_words) if counts.get(sub) == n}
    kept = sorted((p for p in counts if p not in covered), key=lambda p: (-counts[p], p))
    return [MinedKeyphrase(text=p, normalized=normalize_keyphrase(p), item_count=counts[p],
                           fields=tuple(f for f in MINED_FIELDS if f in fields[p]))
            for p in kept[:limit]]


def mined_universe(items: Mapping[str, Item], exclude: Iterable[str] = (),
                   limit: int | None = None) -> list[Keyphrase]:
    """The mined phrases (default settings) as keyphrases ``mined:<n>``, most shared first."""
    return [Keyphrase(keyphrase_id=f"mined:{n}", text=m.text, normalized=m.normalized,
                      source="mined")
            for n, m in enumerate(mine_keyphrases(items, exclude=exclude, limit=limit))]
