"""The shared contracts: one item text, one JSONL reader/writer, the index schema's helpers."""

import json

import pytest

from components.contracts import (
    ITEM_FIELDS,
    category_filter,
    item_text,
    read_jsonl,
    top_level_category,
    version_from_row,
    write_jsonl_atomic,
    write_text_atomic,
)
from components.data import Item
from serving.gateway.domain import ItemInput


def test_item_text_joins_the_non_empty_fields_flattened_and_capped():
    item = Item("x", "Lamp\nshade ", brand="", category="Home > Lighting")
    assert ITEM_FIELDS == ("title", "brand", "category")
    assert item_text(item) == "Lamp shade | Home > Lighting"
    assert item_text(item, ("title",), max_chars=4) == "Lamp"


def test_offline_items_and_gateway_requests_get_the_same_text():
    offline = Item("x", "Wool socks", brand="Acme", category="Clothing", description="warm")
    online = ItemInput(title="Wool socks", brand="Acme", category="Clothing", description="warm")
    assert offline.text() == item_text(online) == "Wool socks | Acme | Clothing"


def test_jsonl_round_trip_is_atomic_and_keeps_unicode(tmp_path):
    path = tmp_path / "deep" / "rows.jsonl"
    assert write_jsonl_atomic(path, ({"k": k} for k in ["café", "b"])) == 2
    assert "café" in path.read_text(encoding="utf-8")
    assert read_jsonl(path) == [{"k": "café"}, {"k": "b"}]
    assert not list(path.parent.glob("*.tmp"))


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl_atomic(path, [{"a": 1}])

    def rows():
        yield {"a": 2}
        raise RuntimeError("cut off")

    with pytest.raises(RuntimeError):
        write_jsonl_atomic(path, rows())
    assert read_jsonl(path) == [{"a": 1}]


def test_bad_lines_name_the_file_and_line(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n{"a": \n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"rows\.jsonl:3"):
        read_jsonl(path)
    path.write_text('{"item_id": "i", "title": "t"}\n{"b": 2}\n', encoding="utf-8")
    with pytest.raises(LookupError, match="rows.jsonl@2"):  # the row type refused line 2
        read_jsonl(path, lambda row: Item(**row),
                   lambda where, line, exc: LookupError(f"{where}@{line}: {exc}"))


def test_text_writer(tmp_path):
    write_text_atomic(tmp_path / "r.md", "# table\n")
    assert (tmp_path / "r.md").read_text() == "# table\n"


def test_index_schema_helpers():
    assert top_level_category("Home & Kitchen > Furniture > Beds") == "Home & Kitchen"
    assert category_filter("Home & Kitchen") == 'category == "Home & Kitchen"'
    assert category_filter(None) == ""
    row = {"collection": "kp_v1", "model_version": "v1", "dim": "384", "count": 3,
           "categories": json.dumps(["A", "B"]), "created_at": "t", "metric_type": "IP"}
    version = version_from_row(row)
    assert (version.dim, version.categories) == (384, ("A", "B"))
