"""The catalogue keyphrase miner, on hand-made items and on the real ESCI products."""

from __future__ import annotations

import pytest

from components.data import Item, load_items, load_judgments, normalize_keyphrase
from components.data.mining import MinedKeyphrase, mine_keyphrases, mined_universe


def _items(*titles: str, **fields: str) -> dict[str, Item]:
    return {f"p{i}": Item(item_id=f"p{i}", title=t, **fields) for i, t in enumerate(titles)}


def _texts(mined: list[MinedKeyphrase]) -> list[str]:
    return [m.text for m in mined]


def test_an_item_counts_once_and_min_items_applies():
    items = _items("Phone Case phone case", "Phone Case Blue", "Wireless Earbuds")
    assert _texts(mine_keyphrases(items, min_items=3)) == []
    mined = mine_keyphrases(items, min_items=2)
    assert [(m.text, m.item_count, m.source) for m in mined] == [("phone case", 2, "mined")]


def test_phrases_are_counted_across_fields_and_sorted():
    items = {
        "a": Item("a", "Wireless Earbuds", category="Electronics > Earbud Headphones"),
        "b": Item("b", "Sport Earbud Headphones"),
        "c": Item("c", "Phone Holder", bullet_points="Pairs with wireless earbuds\nFits any car"),
        "d": Item("d", "Wireless Earbuds for Running"),
    }
    mined = mine_keyphrases(items, min_items=2)
    assert _texts(mined) == ["wireless earbuds", "earbud headphones"]
    assert mined[0].item_count == 3
    assert mined[0].fields == ("title", "bullet_points")
    assert mined[1].fields == ("title", "category")
    assert mine_keyphrases(items, min_items=2, limit=1) == mined[:1]
    assert mine_keyphrases(dict(reversed(items.items())), min_items=2) == mined


def test_excluded_phrases_are_removed_after_normalising():
    items = _items("LED Strip Lights", "LED Strip Lights 5m", "Smart LED Strip Lights")
    assert _texts(mine_keyphrases(items, min_items=3)) == ["led strip lights"]
    assert _texts(mine_keyphrases(items, exclude=["  LED  strip lights "], min_items=3)) == [
        "led strip", "strip lights"]


def test_a_phrase_always_inside_a_longer_one_is_dropped():
    items = _items("Memory Foam Pillow", "Memory Foam Pillow Set", "Memory Foam Mattress",
                   "Cooling Memory Foam Pillow")
    counts = {m.text: m.item_count for m in mine_keyphrases(items, min_items=2)}
    # "foam pillow" and "memory foam pillow" share the same three items: the longer one stays.
    assert counts == {"memory foam": 4, "memory foam pillow": 3}


def test_filters_on_tokens_and_edges():
    items = _items(
        "iPhone 12 Case for the Kids | 64GB, Black",
        "iPhone 12 Case for the Kids | 64GB, Black",
        "iPhone 12 Case for the Kids | 64GB, Black",
        "Best Quality 12 oz Coffee Mug (Blue) <3 Coffee Mug",
        "Best Quality 12 oz Coffee Mug (Blue) <3 Coffee Mug",
        "Best Quality 12 oz Coffee Mug (Blue) <3 Coffee Mug",
        "Salt and Pepper Shakers - Women's Gift",
        "Salt and Pepper Shakers - Women's Gift",
        "Salt and Pepper Shakers - Women's Gift",
    )
    texts = set(_texts(mine_keyphrases(items, min_items=3)))
    # No phrase starts/ends with a stopword or bare number (inside is fine), holds "the", a unit,
    # "64gb" or boilerplate, ends in a possessive, or crosses '|', ',', '(', ' - '.
    assert texts == {"iphone 12 case", "coffee mug", "salt and pepper shakers", "women's gift"}


def test_word_bounds_and_bad_arguments():
    items = _items(*["hand held milk frother"] * 3)
    assert _texts(mine_keyphrases(items, min_words=2, max_words=3)) == [
        "hand held milk", "held milk frother"]
    assert _texts(mine_keyphrases(items, min_words=4)) == ["hand held milk frother"]
    with pytest.raises(ValueError, match="min_words"):
        mine_keyphrases(items, min_words=3, max_words=2)
    with pytest.raises(ValueError, match="min_items"):
        mine_keyphrases(items, min_items=0)


def test_mined_universe_ids():
    items = _items(*["Phone Case"] * 3, *["Wireless Earbuds"] * 4)
    universe = mined_universe(items)
    assert [(k.keyphrase_id, k.text, k.source, k.keyphrase_class) for k in universe] == [
        ("mined:0", "wireless earbuds", "mined", ""), ("mined:1", "phone case", "mined", "")]


def test_real_catalogue_yields_many_phrases_and_no_esci_query(data_root):
    items = load_items(data_root)
    queries = {normalize_keyphrase(j.query) for j in load_judgments(data_root)}
    mined = mine_keyphrases(items, exclude=queries)
    assert len(mined) >= 1500
    assert not {m.normalized for m in mined} & queries
    assert len({m.normalized for m in mined}) == len(mined)
