import gzip
import shutil

import pytest

from components.data import DataError, load_items, load_judgments, load_wands_queries
from components.data.esci import GRADES


def test_real_judgments(data_root):
    judgments = load_judgments(data_root)
    assert len(judgments) == 6678
    assert len({j.query_id for j in judgments}) == 150
    counts = {g: sum(j.grade == g for j in judgments) for g in GRADES}
    assert counts == {"E": 3389, "S": 1898, "C": 305, "I": 1086}


def test_real_items_cover_judgments(data_root):
    items = load_items(data_root)
    assert len(items) == 6764
    judged = {j.item_id for j in load_judgments(data_root)}
    assert judged <= items.keys()
    assert all(items[i].title for i in judged)
    sample = items[next(iter(judged))]
    assert " | " in sample.text(("title", "brand")) or sample.brand == ""


def test_real_wands(data_root):
    queries = load_wands_queries(data_root)
    assert len(queries) == 480
    assert len({q.query_class for q in queries} - {""}) == 188


@pytest.fixture
def bad_root(tmp_path, data_root):
    shutil.copytree(data_root, tmp_path / "data")
    for path in (tmp_path / "data").rglob("*"):
        path.chmod(0o644 if path.is_file() else 0o755)
    return tmp_path / "data"


def _rewrite_judgments(root, line_no, new_line):
    path = root / "esci" / "judgments.csv"
    lines = path.read_text().splitlines()
    lines[line_no - 1] = new_line
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize(
    ("line_no", "text", "expect"),
    [
        (1, "qid,query,product,label", "line 1"),
        (5, "100064,t towels kitchen,B07NCQWCQS", "line 5: expected 4 columns"),
        (7, "100064,t towels kitchen,B0XYZ,X", "line 7, field 'label'"),
        (9, "100064,,B0XYZ,E", "line 9, field 'query'"),
        (3, "100064,t towels kitchen,B07NCQWCQS,E", "line 3, field 'product_id'"),  # duplicate
    ],
)
def test_malformed_judgments_name_file_line_field(bad_root, line_no, text, expect):
    _rewrite_judgments(bad_root, line_no, text)
    with pytest.raises(DataError) as err:
        load_judgments(bad_root)
    assert "judgments.csv" in str(err.value)
    assert expect in str(err.value)


def _rewrite_products(root, line_no, new_line):
    path = root / "esci" / "products.jsonl.gz"
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    lines[line_no - 1] = new_line
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ('{"product_id": "B1", "title": "x"', "line 4: invalid JSON"),
        ('{"product_id": "B1", "title": ""}', "line 4, field 'title'"),
        ('{"title": "a lamp"}', "line 4, field 'product_id'"),
        ('{"product_id": "B1", "title": "a", "rating_count": "many"}', "field 'rating_count'"),
        ('{"product_id": "B1", "title": "a", "brand": 3}', "field 'brand'"),
        ('[1, 2]', "line 4: expected a JSON object"),
    ],
)
def test_malformed_products_name_file_line_field(bad_root, text, expect):
    _rewrite_products(bad_root, 4, text)
    with pytest.raises(DataError) as err:
        load_items(bad_root)
    assert "products.jsonl.gz" in str(err.value)
    assert expect in str(err.value)


def test_truncated_gzip_is_a_clear_error(bad_root):
    path = bad_root / "esci" / "products.jsonl.gz"
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(DataError, match="products.jsonl.gz: cannot read"):
        load_items(bad_root)


def test_malformed_wands(bad_root):
    path = bad_root / "wands" / "queries.tsv"
    lines = path.read_text().splitlines()
    lines[10] = "10\tonly two"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"queries.tsv, line 11: expected 3"):
        load_wands_queries(bad_root)


def test_missing_files_say_how_to_fix(tmp_path):
    for loader in (load_items, load_judgments, load_wands_queries):
        with pytest.raises(DataError, match="file not found.*KPDISTILL_DATA_DIR"):
            loader(tmp_path)


def test_data_dir_setting(monkeypatch, tmp_path):
    from components.settings import data_dir

    monkeypatch.setenv("KPDISTILL_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path
