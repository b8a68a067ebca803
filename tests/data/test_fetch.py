"""The fetch converter on hand-made files in the exact source formats, on the real data folder
rebuilt into source form (byte-exact round trips), the checksum verifier, and downloads from a
loopback HTTP server (no internet)."""

from __future__ import annotations

import csv
import gzip
import hashlib
import http.server
import json
import shutil
import socket
import threading
from functools import partial
from pathlib import Path

import pytest

from components.data import DataError, load_items, load_judgments, load_wands_queries
from components.data import fetch as F

# ---------------------------------------------------------------- source-format fixtures

JUDGMENTS_JSON = {
    "name": "ESCI Judgments", "description": "Judgments generated outside SRW",
    "type": "IMPORT_JUDGMENT",
    "judgmentRatings": [
        {"query": "t towels kitchen", "ratings": [
            {"docId": "B07NCQWCQS", "rating": "100.000"},
            {"docId": "B07QLRTGVQ", "rating": "10.000"},
            {"docId": "B0825VCHDG", "rating": "1.000"},
            {"docId": "B08JZ36B5B", "rating": "0.000"},
        ]},
        {"query": "%100 silicone not clear", "ratings": [
            {"docId": "B07CHYCKQM", "rating": "100.000"},
            {"docId": "B0868JG5T4", "rating": "0.000"},
            {"docId": "B00MISSING", "rating": "10.000"},
        ]},
    ],
}
QUERYSET_JSON = {"name": "ESCI Queries", "description": "Queries from the ESCI ranking task",
                 "sampling": "manual", "querySetQueries": [
                     {"queryText": "t towels kitchen"}, {"queryText": "%100 silicone not clear"}]}


def ubi_product(asin, title, query_ids, **extra):
    record = {"title": title, "description": "", "bullet_points": "Soft\nAbsorbent",
              "brand": "Utopia", "color": None, "image": "https://m.media-amazon.com/x.jpg",
              "price": None, "category": ["Home & Kitchen", "Kitchen & Dining"],
              "rating": 4.6, "rating_count": 120, "is_book": False,
              "query_id": query_ids, "asin": asin, "_id": asin}
    record.update(extra)
    return record


UBI_PRODUCTS = [
    ubi_product("B07NCQWCQS", "Kitchen Towels \u2013 6 Pack", ["100064", "55"]),
    ubi_product("B07QLRTGVQ", "Tea Towels", ["100064"], price=12.99),
    ubi_product("B0825VCHDG", "Towel Hooks ", ["100064", "55"], category=[]),
    ubi_product("B08JZ36B5B", "Paper Plates", ["100064"], rating=None, rating_count=None),
    ubi_product("B07CHYCKQM", "SILA-SEAL Silicone, 12\" tube", ["111"]),
    ubi_product("B0868JG5T4", "HULISEN 24 Pack Bottles", ["111", "7"], price=11.99),
    ubi_product("B0UNJUDGED", "Not judged here", ["67"]),
    ubi_product("B0NOTITLE0", "", ["111"]),
]
WANDS_CSV = ("query_id\tquery\tquery_class\n0\tsalon chair\tMassage Chairs\n"
             "197\tdesk for kids tjat ate 10 year old\t\n"
             '208\t"fawkes 36"" blue vanity"\tVanities\n')


@pytest.fixture
def sources(tmp_path) -> Path:
    src = tmp_path / "sources"
    src.mkdir()
    (src / "esci_us_judgments.json").write_text(json.dumps(JUDGMENTS_JSON, indent=2))
    (src / "esci_us_queryset.json").write_text(json.dumps(QUERYSET_JSON, indent=2))
    with gzip.open(src / "ubi_ecommerce_products.json.gz", "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(p) + "\n" for p in UBI_PRODUCTS)
    (src / "query.csv").write_text(WANDS_CSV, encoding="utf-8")
    return src


# ---------------------------------------------------------------- pure converters

def test_ratings_map_to_esci_grades_in_file_order():
    judgments = F.parse_judgments_json(json.dumps(JUDGMENTS_JSON))
    assert [j.grade for j in judgments[:4]] == ["E", "S", "C", "I"]
    assert judgments[4] == F.SourceJudgment("%100 silicone not clear", "B07CHYCKQM", "E")


def test_unknown_rating_is_rejected():
    doc = {"judgmentRatings": [{"query": "q", "ratings": [{"docId": "B1", "rating": "50.000"}]}]}
    with pytest.raises(DataError, match="100/10/1/0"):
        F.parse_judgments_json(json.dumps(doc))
    with pytest.raises(DataError, match="judgmentRatings"):
        F.parse_judgments_json("[]")
    with pytest.raises(DataError, match="invalid JSON"):
        F.parse_judgments_json('{"judgmentRatings": [')
    with pytest.raises(DataError, match="docId"):
        F.parse_judgments_json('{"judgmentRatings": [{"query": "q", "ratings": [{"rating": 1}]}]}')


def test_product_record_in_our_layout():
    product = F.to_product(UBI_PRODUCTS[0])
    assert tuple(product) == F.PRODUCT_FIELDS
    assert product["category"] == "Home & Kitchen > Kitchen & Dining"
    assert product["color"] == "" and product["price"] is None
    assert F.to_product(UBI_PRODUCTS[2])["title"] == "Towel Hooks "  # text kept as published
    assert F.to_product(UBI_PRODUCTS[3])["rating_count"] is None
    assert F.to_product(UBI_PRODUCTS[-1]) is None


def test_query_ids_are_voted_from_product_query_lists():
    judgments = F.parse_judgments_json(json.dumps(JUDGMENTS_JSON))
    lists = {p["asin"]: p["query_id"] for p in UBI_PRODUCTS}
    assert F.query_ids_from_products(judgments, lists) == {
        "t towels kitchen": "100064", "%100 silicone not clear": "111"}


def test_ambiguous_or_shared_query_ids_ask_for_the_esci_examples():
    judgments = [F.SourceJudgment("a", "P1", "E"), F.SourceJudgment("a", "P2", "E")]
    with pytest.raises(F.FetchError, match="--esci-examples"):
        F.query_ids_from_products(judgments, {"P1": ["1", "2"], "P2": ["1", "2"]})
    with pytest.raises(F.FetchError, match="--esci-examples"):  # listed by half only
        F.query_ids_from_products(judgments, {"P1": ["1"], "P2": []})
    both = judgments + [F.SourceJudgment("b", "P1", "S")]
    with pytest.raises(F.FetchError, match="2 queries"):  # one id for two queries
        F.query_ids_from_products(both, {"P1": ["1"], "P2": ["1"]})


def test_query_ids_from_esci_examples_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"example_id": [1, 2, 3, 4], "query": ["kindle", "kindle", "kindle", "x"],
                      "query_id": [58186, 58186, 9, 1], "product_id": ["A", "B", "C", "D"],
                      "product_locale": ["us", "us", "jp", "us"]})
    pq.write_table(table, tmp_path / "examples.parquet")
    assert F.query_ids_from_examples(tmp_path / "examples.parquet", ["kindle"]) == {
        "kindle": "58186"}
    with pytest.raises(F.FetchError, match="no single US query id"):
        F.query_ids_from_examples(tmp_path / "examples.parquet", ["kindle", "missing"])


def test_convert_writes_what_the_loaders_read(sources, tmp_path):
    out = tmp_path / "data"
    report = F.convert(sources, out)
    judgments = load_judgments(out)
    assert [(j.query_id, j.item_id, j.grade) for j in judgments] == [
        ("100064", "B07NCQWCQS", "E"), ("100064", "B07QLRTGVQ", "S"),
        ("100064", "B0825VCHDG", "C"), ("100064", "B08JZ36B5B", "I"),
        ("111", "B07CHYCKQM", "E"), ("111", "B0868JG5T4", "I")]
    items = load_items(out)
    assert list(items) == ["B07NCQWCQS", "B07QLRTGVQ", "B0825VCHDG", "B08JZ36B5B",
                           "B07CHYCKQM", "B0868JG5T4", "B0UNJUDGED"]
    assert items["B07QLRTGVQ"].price == 12.99 and items["B07NCQWCQS"].brand == "Utopia"
    wands = load_wands_queries(out)
    assert [w.query for w in wands] == ["salon chair", "desk for kids tjat ate 10 year old",
                                        'fawkes 36" blue vanity']
    assert (report.judgments, report.queries, report.products, report.wands_queries) == (
        6, 2, 7, 3)
    assert "dropped 1 judgments: product without a titled record" in report.notes
    assert "skipped 1 source products: product without id or title" in report.notes
    assert (out / "wands" / "queries.tsv").read_text() == WANDS_CSV


def test_convert_judged_products_only(sources, tmp_path):
    report = F.convert(sources, tmp_path / "data", products="judged")
    assert report.products == 6 and "B0UNJUDGED" not in load_items(tmp_path / "data")


def test_bad_wands_header_is_rejected(sources, tmp_path):
    (sources / "query.csv").write_text("id\tq\n1\tx\n")
    with pytest.raises(DataError, match="header"):
        F.convert(sources, tmp_path / "data")


# ---------------------------------------------------------------- real data, round trips

def _to_source_judgments(path: Path) -> tuple[str, dict[str, list[str]]]:
    """judgments.csv back into the OpenSearch JSON + product query_id lists."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    rating = {"E": "100.000", "S": "10.000", "C": "1.000", "I": "0.000"}
    entries, lists = [], {}
    for r in rows:
        if not entries or entries[-1]["query"] != r["query"]:
            entries.append({"query": r["query"], "ratings": []})
        entries[-1]["ratings"].append({"docId": r["product_id"], "rating": rating[r["label"]]})
        lists.setdefault(r["product_id"], []).append(r["query_id"])
    return json.dumps({"judgmentRatings": entries}), lists


def test_real_judgments_round_trip_byte_exact(data_root, tmp_path):
    text, lists = _to_source_judgments(data_root / "esci" / "judgments.csv")
    judgments = F.parse_judgments_json(text)
    rows, dropped = F.judgment_rows(judgments, F.query_ids_from_products(judgments, lists),
                                    set(lists))
    F.write_judgments(rows, tmp_path / "judgments.csv")
    assert not dropped
    assert F.sha256_of(tmp_path / "judgments.csv") == F.PINS[0].sha256


def test_real_products_round_trip_content_exact(data_root, tmp_path):
    reference = data_root / "esci" / "products.jsonl.gz"
    with gzip.open(reference, "rt", encoding="utf-8") as fh:
        ours = [json.loads(line) for line in fh]
    ubi = [ubi_product(p["product_id"], p["title"], [], brand=p["brand"], color=p["color"],
                       category=p["category"].split(" > ") if p["category"] else [],
                       bullet_points=p["bullet_points"], description=p["description"],
                       price=p["price"], rating=p["rating"], rating_count=p["rating_count"])
           for p in ours]
    F.write_products((F.to_product(r) for r in ubi), tmp_path / "products.jsonl.gz")
    assert F.sha256_of(tmp_path / "products.jsonl.gz", decompress=True) == \
        F.PINS[1].content_sha256
    # gzip header (flags, pinned time, level, OS, file name) as the reference's
    assert (tmp_path / "products.jsonl.gz").read_bytes()[:25] == reference.read_bytes()[:25]


def test_real_wands_round_trip_byte_exact(data_root, tmp_path):
    assert F.convert_wands(data_root / "wands" / "queries.tsv", tmp_path / "q.tsv") == 480
    assert F.sha256_of(tmp_path / "q.tsv") == F.PINS[2].sha256


# ---------------------------------------------------------------- verification

def test_data_folder_verifies(data_root, capsys, monkeypatch):
    checks = F.verify(data_root)
    assert [c.status for c in checks] == ["verified"] * 3
    assert F.judgment_labels_sha256(data_root / "esci" / "judgments.csv") == \
        F.JUDGMENT_LABELS_SHA256
    assert F.main(["--verify-only", str(data_root)]) == 0
    assert capsys.readouterr().out.count("verified") == 3
    monkeypatch.setenv("KPDISTILL_DATA_DIR", str(data_root))  # no DIR: the configured folder
    assert F.main(["--verify-only"]) == 0
    assert f"data folder: {data_root}" in capsys.readouterr().out


@pytest.fixture
def copy_root(tmp_path, data_root) -> Path:
    root = tmp_path / "copy"
    for pin in F.PINS:
        (root / pin.relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(data_root / pin.relpath, root / pin.relpath)
    return root


def test_recompressed_products_verify_by_content(copy_root):
    path = copy_root / "esci" / "products.jsonl.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1))
    check = F.verify(copy_root)[1]
    assert check.status == "verified (content)" and check.ok


def test_renumbered_judgments_differ_but_are_usable(copy_root):
    path = copy_root / "esci" / "judgments.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text(lines[0] + "".join("9" + line for line in lines[1:]), encoding="utf-8")
    check = F.verify(copy_root)[0]
    assert check.status == "differs, usable" and not check.ok
    assert "6678 rows" in check.detail and "only query ids" in check.detail


def test_corrupt_gzip_stream_is_not_usable(copy_root):
    path = copy_root / "esci" / "products.jsonl.gz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2: len(data) // 2 + 64] = bytes(64)
    path.write_bytes(bytes(data))
    check = F.verify(copy_root)[1]
    assert check.status == "differs, NOT usable" and "gzip" in check.detail


def test_broken_or_missing_files_are_reported(copy_root, capsys):
    (copy_root / "wands" / "queries.tsv").write_text("not a header\n")
    (copy_root / "esci" / "products.jsonl.gz").write_bytes(b"\x1f\x8b truncated")
    (copy_root / "esci" / "judgments.csv").unlink()
    statuses = [c.status for c in F.verify(copy_root)]
    assert statuses == ["missing", "differs, NOT usable", "differs, NOT usable"]
    assert F.main(["--verify-only", str(copy_root)]) == 1
    assert "missing" in capsys.readouterr().out


# ---------------------------------------------------------------- downloads (loopback only)

@pytest.fixture
def http_root(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_download_writes_the_file(http_root, tmp_path):
    root, base = http_root
    (root / "a.json").write_text('{"ok": 1}')
    dest = F.download(f"{base}/a.json", tmp_path / "got" / "a.json", timeout=5)
    assert dest.read_text() == '{"ok": 1}' and not list(dest.parent.glob("*.part"))


def test_download_errors_are_clear(http_root, tmp_path):
    _, base = http_root
    with pytest.raises(F.FetchError, match="HTTP 404"):
        F.download(f"{base}/nope.json", tmp_path / "x.json", timeout=5)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(F.FetchError, match="Offline"):
        F.download(f"http://127.0.0.1:{port}/x", tmp_path / "x.json", timeout=5)
    assert not (tmp_path / "x.json").exists()


def test_main_converts_local_sources_and_reports(sources, tmp_path, capsys):
    out = tmp_path / "data"
    assert F.main(["--out", str(out), "--sources", str(sources)]) == 1  # not the reference
    text = capsys.readouterr().out
    assert "wrote 6 judgments (2 queries" in text and "differs, usable" in text
    manifest = json.loads((sources / "sources.json").read_text())
    digest = hashlib.sha256((sources / "query.csv").read_bytes()).hexdigest()
    assert manifest["query.csv"]["sha256"] == digest
    assert manifest["query.csv"]["url"] == F.SOURCES["wands"].url()


def test_source_urls_are_pinned_raw_github():
    assert F.SOURCES["wands"].url() == ("https://raw.githubusercontent.com/wayfair/WANDS/"
                                        "37f00c95b2a2abca6396680976378dc899babb7c/dataset/query.csv")
    assert F.ESCI_EXAMPLES.url("main").startswith(
        "https://media.githubusercontent.com/media/amazon-science/esci-data/main/")
