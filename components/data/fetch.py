"""Fetch the public ESCI / WANDS source files, convert them into our layout, verify checksums.

    python -m components.data.fetch --out DIR              # download, convert, verify
    python -m components.data.fetch --sources SRC --out DIR  # convert files downloaded by hand
    python -m components.data.fetch --verify-only [DIR]    # check a data folder (default:
                                                           # KPDISTILL_DATA_DIR)

Sources (docs/DATA.md): the OpenSearch ESCI judgments and query set, the OpenSearch UBI
product file (ESCI-S product pages, each with the ESCI ``query_id`` list it was judged for) and
the WANDS query file. The ESCI numeric query ids of ``judgments.csv`` are not in the OpenSearch
judgments: they are recovered from the products' ``query_id`` lists (a vote over each query's
judged products), or, with ``--esci-examples``, from the original ESCI examples parquet
(51 MB, needs pyarrow). The conversion is pure functions over local files; only
:func:`download` touches the network.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import io
import json
import shutil
import sys
import urllib.error
import urllib.request
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from components.data.errors import DataError
from components.settings import data_dir


class FetchError(RuntimeError):
    """A source could not be downloaded or converted; the message says what to do."""


@dataclass(frozen=True)
class Source:
    """A public file in a GitHub repository, pinned to the commit our data was built from."""

    filename: str
    repo: str
    path: str
    commit: str
    lfs: bool = False
    sha256: str | None = None

    def url(self, ref: str | None = None) -> str:
        host = "media.githubusercontent.com/media" if self.lfs else "raw.githubusercontent.com"
        return f"https://{host}/{self.repo}/{ref or self.commit}/{self.path}"


SEARCH_RELEVANCE = "nightly-playground/sample-data/search-relevance"
SOURCES: dict[str, Source] = {
    "judgments": Source("esci_us_judgments.json", "opensearch-project/opensearch-devops",
                        f"{SEARCH_RELEVANCE}/esci_us_judgments.json",
                        "88c783ff86e5031588d785e7be61592bc9584811"),
    "queryset": Source("esci_us_queryset.json", "opensearch-project/opensearch-devops",
                       f"{SEARCH_RELEVANCE}/esci_us_queryset.json",
                       "cd460996d501f03f32f8f541da19e9e74fb0f7bd"),
    "products": Source("ubi_ecommerce_products.json.gz",
                       "opensearch-project/dashboards-search-relevance",
                       "server/sample_data/data/ubi_ecommerce_products.json.gz",
                       "4a25529025372cc14a33830be7def4ff29794756"),
    "wands": Source("query.csv", "wayfair/WANDS", "dataset/query.csv",
                    "37f00c95b2a2abca6396680976378dc899babb7c"),
}
ESCI_EXAMPLES = Source(
    "shopping_queries_dataset_examples.parquet", "amazon-science/esci-data",
    "shopping_queries_dataset/shopping_queries_dataset_examples.parquet",
    "7e0e3073f5ca36c0b5ff79e847cf99a74597645d", lfs=True,
    sha256="4a735b693b4a424a6fc67f5be6e4c811495c488bbf66d02a602d308b2744263a")


@dataclass(frozen=True)
class Pin:
    """SHA-256 of a file of the reference data folder (and of its content, for .gz files)."""

    relpath: str
    sha256: str
    rows: int
    content_sha256: str | None = None


PINS: tuple[Pin, ...] = (
    Pin("esci/judgments.csv",
        "2f78e3bddcd834e2fd0f235a4c4bbedde18655b52eb0a02b421ced1e37f23326", 6678),
    Pin("esci/products.jsonl.gz",
        "a098e9cb8ce516ab194c451428e67313a97498dbae115e24d24d7b9a057c7d0a", 6764,
        content_sha256="c6f002207959d793453b43021903c39e96e578f392977e3f9242b0d377af4f2c"),
    Pin("wands/queries.tsv",
        "63b61660560fecc33ec490804c7e2b81402ee3e7c31a9cbb5e03736639f68e95", 480),
)
JUDGMENT_LABELS_SHA256 = "123ec08bf5a0b04d4da20319bbc5ae549333d4dd826b5952bca0fac747551f7e"
"""Digest of the sorted (query, product_id, label) triples: the labels without query ids."""

GRADE_BY_RATING = {100.0: "E", 10.0: "S", 1.0: "C", 0.0: "I"}
PRODUCT_FIELDS = ("product_id", "title", "brand", "color", "category", "bullet_points",
                  "description", "price", "rating", "rating_count")
JUDGMENT_HEADER = ("query_id", "query", "product_id", "label")
GZIP_MTIME = 1795324087
"""gzip header time of the reference products.jsonl.gz; writing it again (level 9, the same
zlib) reproduces the reference bytes. Other zlib builds compress differently: the content
digest is the portable check."""
DOWNLOAD_TIMEOUT_S = 60.0


# ---------------------------------------------------------------- source formats -> records

@dataclass(frozen=True)
class SourceJudgment:
    query: str
    product_id: str
    grade: str


def _json(text: str, name: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(name, f"invalid JSON ({exc.msg})", line=exc.lineno) from None


def parse_judgments_json(text: str) -> list[SourceJudgment]:
    """OpenSearch ``IMPORT_JUDGMENT`` JSON -> judgments in file order (rating 100/10/1/0 -> ESCI)."""
    doc = _json(text, SOURCES["judgments"].filename)
    if not isinstance(doc, dict) or not isinstance(doc.get("judgmentRatings"), list):
        raise DataError(SOURCES["judgments"].filename, "expected an object with 'judgmentRatings'")
    out = []
    for entry in doc["judgmentRatings"]:
        query = entry.get("query")
        if not isinstance(query, str) or not query.strip():
            raise DataError(SOURCES["judgments"].filename, f"judgment without a query: {entry!r:.80}")
        for rating in entry.get("ratings", []):
            try:
                grade = GRADE_BY_RATING[float(rating["rating"])]
                product_id = str(rating["docId"]).strip()
            except (KeyError, TypeError, ValueError):
                raise DataError(SOURCES["judgments"].filename, "expected {docId, rating} with "
                                f"rating 100/10/1/0, got {rating!r} for {query!r}") from None
            out.append(SourceJudgment(query, product_id, grade))
    return out


def parse_queryset_json(text: str) -> list[str]:
    """OpenSearch query set JSON -> query texts."""
    doc = _json(text, SOURCES["queryset"].filename)
    try:
        return [q["queryText"] for q in doc["querySetQueries"]]
    except (KeyError, TypeError):
        raise DataError(SOURCES["queryset"].filename,
                        "expected 'querySetQueries': [{'queryText': ...}]") from None


def iter_source_products(path: Path) -> Iterator[dict]:
    """UBI products: one JSON object a line (gzip-compressed or not)."""
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DataError(path, f"invalid JSON ({exc.msg})", line=lineno) from None


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return " > ".join(str(v) for v in value)
    return str(value)


def _number(value, kind):
    return None if value is None or value == "" else kind(value)


def to_product(record: dict) -> dict | None:
    """A UBI product record in our layout (field order of PRODUCT_FIELDS); None without a title.

    ``category`` lists are joined with " > "; null strings become ""; numbers stay null."""
    product_id = _text(record.get("asin") or record.get("_id")).strip()
    title = _text(record.get("title"))
    if not product_id or not title.strip():
        return None
    out = {"product_id": product_id, "title": title}
    for name in ("brand", "color", "category", "bullet_points", "description"):
        out[name] = _text(record.get(name))
    out["price"] = _number(record.get("price"), float)
    out["rating"] = _number(record.get("rating"), float)
    out["rating_count"] = _number(record.get("rating_count"), int)
    return out


# ---------------------------------------------------------------- ESCI query ids

def query_ids_from_products(judgments: Iterable[SourceJudgment],
                            product_query_ids: dict[str, list[str]]) -> dict[str, str]:
    """Query text -> ESCI query id: the id listed by most of the query's judged products.

    The winner must be listed by more than half of them, beat every other id, and belong to one
    query only; otherwise FetchError names the queries (use ``--esci-examples`` then)."""
    products_by_query: dict[str, list[str]] = defaultdict(list)
    for j in judgments:
        products_by_query[j.query].append(j.product_id)
    ids, unresolved = {}, []
    for query, pids in products_by_query.items():
        votes = Counter(q for p in pids for q in set(product_query_ids.get(p, ())))
        top = votes.most_common(2)
        if (not top or top[0][1] * 2 <= len(pids)
                or (len(top) > 1 and top[1][1] == top[0][1])):
            unresolved.append(query)
            continue
        ids[query] = top[0][0]
    owners = Counter(ids.values())
    unresolved += [q for q, i in ids.items() if owners[i] > 1]
    if unresolved:
        raise FetchError(f"{len(unresolved)} queries have no unambiguous ESCI query id in the "
                         f"product file, e.g. {sorted(unresolved)[:3]}; pass --esci-examples")
    return ids


def query_ids_from_examples(path: Path, queries: Iterable[str]) -> dict[str, str]:
    """Query text -> ESCI query id from ``shopping_queries_dataset_examples.parquet`` (US)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise FetchError("--esci-examples needs pyarrow (pip install pyarrow)") from None
    table = pq.read_table(path, columns=["query_id", "query", "product_locale"],
                          filters=[("product_locale", "=", "us")])
    wanted = set(queries)
    found: dict[str, set[str]] = defaultdict(set)
    for qid, query in zip(table.column("query_id").to_pylist(),
                          table.column("query").to_pylist(), strict=True):
        if query in wanted:
            found[query].add(str(qid))
    bad = sorted(q for q in wanted if len(found.get(q, ())) != 1)
    if bad:
        raise FetchError(f"{len(bad)} queries have no single US query id in {path.name}, "
                         f"e.g. {bad[:3]}")
    return {q: next(iter(ids)) for q, ids in found.items()}


# ---------------------------------------------------------------- writers (our layout)

def judgment_rows(judgments: list[SourceJudgment], query_ids: dict[str, str],
                  titled: set[str]) -> tuple[list[tuple[str, str, str, str]], Counter]:
    """Rows ``query_id,query,product_id,label`` in source order; drops (and counts) duplicates
    and judgments whose product has no titled record."""
    rows, seen, dropped = [], set(), Counter()
    for j in judgments:
        if j.product_id not in titled:
            dropped["product without a titled record"] += 1
        elif (j.query, j.product_id) in seen:
            dropped["duplicate judgment"] += 1
        else:
            seen.add((j.query, j.product_id))
            rows.append((query_ids[j.query], j.query, j.product_id, j.grade))
    return rows, dropped


def write_judgments(rows: Iterable[tuple], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:  # csv default: CRLF rows
        writer = csv.writer(fh)
        writer.writerow(JUDGMENT_HEADER)
        writer.writerows(rows)


def write_products(products: Iterable[dict], path: Path) -> None:
    """One JSON object a line, UTF-8 unescaped, gzip level 9 with the pinned header time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as raw, \
            gzip.GzipFile(filename="products.jsonl", mode="wb", compresslevel=9,
                          fileobj=raw, mtime=GZIP_MTIME) as gz, \
            io.TextIOWrapper(gz, encoding="utf-8", newline="\n") as fh:
        for product in products:
            fh.write(json.dumps(product, ensure_ascii=False) + "\n")


def convert_wands(src: Path, dest: Path) -> int:
    """WANDS ``query.csv`` (tab-separated, csv quoting) -> ``queries.tsv``; returns row count."""
    with open(src, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh, delimiter="\t") if r]
    if not rows or tuple(rows[0]) != ("query_id", "query", "query_class"):
        raise DataError(src, "header must be query_id<TAB>query<TAB>query_class", line=1)
    bad = [i for i, r in enumerate(rows, start=1) if len(r) != 3]
    if bad:
        raise DataError(src, "expected 3 tab-separated columns", line=bad[0])
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(rows)
    return len(rows) - 1


@dataclass
class ConversionReport:
    judgments: int = 0
    queries: int = 0
    products: int = 0
    wands_queries: int = 0
    query_id_source: str = ""
    notes: list[str] = field(default_factory=list)


def convert(sources: Path, out: Path, products: str = "all",
            esci_examples: Path | None = None) -> ConversionReport:
    """Source files in ``sources`` -> ``out/esci/{judgments.csv,products.jsonl.gz}``,
    ``out/wands/queries.tsv``. ``products``: "all" (the reference) or "judged"."""
    if products not in ("all", "judged"):
        raise ValueError(f"products must be 'all' or 'judged', got {products!r}")
    report = ConversionReport()
    judgments = parse_judgments_json(
        (sources / SOURCES["judgments"].filename).read_text(encoding="utf-8"))
    queryset_path = sources / SOURCES["queryset"].filename
    if queryset_path.is_file():
        extra = {j.query for j in judgments} ^ set(
            parse_queryset_json(queryset_path.read_text(encoding="utf-8")))
        if extra:
            report.notes.append(f"{len(extra)} queries differ between judgments and query set")
    catalogue, query_lists, skipped = [], {}, Counter()
    for record in iter_source_products(sources / SOURCES["products"].filename):
        product = to_product(record)
        if product is None:
            skipped["product without id or title"] += 1
        elif product["product_id"] in query_lists:
            skipped["duplicate product"] += 1
        else:
            query_lists[product["product_id"]] = [str(q) for q in record.get("query_id") or []]
            catalogue.append(product)
    if esci_examples is not None:
        query_ids = query_ids_from_examples(esci_examples, {j.query for j in judgments})
        report.query_id_source = esci_examples.name
    else:
        query_ids = query_ids_from_products(judgments, query_lists)
        report.query_id_source = "product query_id lists"
    rows, dropped = judgment_rows(judgments, query_ids, set(query_lists))
    judged = {r[2] for r in rows}
    if products == "judged":
        catalogue = [p for p in catalogue if p["product_id"] in judged]
    write_judgments(rows, out / "esci" / "judgments.csv")
    write_products(catalogue, out / "esci" / "products.jsonl.gz")
    report.wands_queries = convert_wands(sources / SOURCES["wands"].filename,
                                         out / "wands" / "queries.tsv")
    report.judgments, report.products = len(rows), len(catalogue)
    report.queries = len({r[0] for r in rows})
    report.notes += [f"dropped {n} judgments: {why}" for why, n in dropped.items()]
    report.notes += [f"skipped {n} source products: {why}" for why, n in skipped.items()]
    return report


# ---------------------------------------------------------------- download

def download(url: str, dest: Path, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Fetch ``url`` to ``dest`` (atomically). Offline / HTTP errors raise FetchError."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp, open(part, "wb") as fh:
            shutil.copyfileobj(resp, fh, length=1 << 20)
    except urllib.error.HTTPError as exc:
        part.unlink(missing_ok=True)
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason} (try --ref HEAD for the "
                         "repository's current version)") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        part.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise FetchError(f"cannot download {url} ({reason}). Offline? Download it by hand into "
                         f"{dest.parent} and run again with --sources {dest.parent}") from None
    part.replace(dest)
    return dest


def sha256_of(path: Path, decompress: bool = False) -> str:
    digest = hashlib.sha256()
    with (gzip.open(path, "rb") if decompress else open(path, "rb")) as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_sources(sources: Path, ref: str | None = None, timeout: float = DOWNLOAD_TIMEOUT_S,
                  esci_examples: bool = False, force: bool = False) -> dict[str, str]:
    """Download every source not already in ``sources``; returns file name -> sha256."""
    wanted = list(SOURCES.values()) + ([ESCI_EXAMPLES] if esci_examples else [])
    digests = {}
    for source in wanted:
        dest = sources / source.filename
        if force or not dest.is_file():
            print(f"downloading {source.url(ref)}", file=sys.stderr)
            download(source.url(ref), dest, timeout)
        digests[source.filename] = sha256_of(dest)
        if source.sha256 and digests[source.filename] != source.sha256:
            raise FetchError(f"{dest}: sha256 {digests[source.filename]} is not the pinned "
                             f"{source.sha256} (incomplete download? delete it and run again)")
    manifest = {s.filename: {"url": s.url(ref), "sha256": digests[s.filename]} for s in wanted}
    (sources / "sources.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return digests


# ---------------------------------------------------------------- verification

@dataclass(frozen=True)
class FileCheck:
    relpath: str
    status: str
    """verified | verified (content) | differs, usable | differs, NOT usable | missing"""
    detail: str

    @property
    def ok(self) -> bool:
        return self.status.startswith("verified")


def judgment_labels_sha256(path: Path) -> str:
    """Digest of the sorted ``query<TAB>product_id<TAB>label`` lines (ids and order ignored)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    lines = sorted(f"{r['query']}\t{r['product_id']}\t{r['label']}" for r in rows)
    return hashlib.sha256(("\n".join(lines) + "\n").encode("utf-8")).hexdigest()


def _usability(pin: Pin, path: Path) -> tuple[str, str]:
    """Load a differing file with the project's loader: is it still usable, and how?"""
    from components.data.esci import load_items, load_judgments
    from components.data.wands import load_wands_queries

    loaders = {"esci/judgments.csv": load_judgments, "esci/products.jsonl.gz": load_items,
               "wands/queries.tsv": load_wands_queries}
    try:
        rows = len(loaders[pin.relpath](path=path))
    except (DataError, OSError, EOFError, KeyError) as exc:
        return "differs, NOT usable", f"the loader rejects it: {exc}"
    detail = f"sha256 differs; loads: {rows} rows (reference {pin.rows})"
    if pin.relpath == "esci/judgments.csv":
        same = judgment_labels_sha256(path) == JUDGMENT_LABELS_SHA256
        detail += ("; same (query, product, label) triples as the reference: only query ids "
                   "or row order differ" if same else "; labels differ from the reference")
    return "differs, usable", detail


def verify(root: Path) -> list[FileCheck]:
    """Check each file of a data folder against the pinned reference checksums."""
    checks = []
    for pin in PINS:
        path = root / pin.relpath
        if not path.is_file():
            checks.append(FileCheck(pin.relpath, "missing", f"no file {path}"))
            continue
        digest = sha256_of(path)
        if digest == pin.sha256:
            checks.append(FileCheck(pin.relpath, "verified", f"sha256 {digest[:16]}..."))
            continue
        if pin.content_sha256:
            try:
                content = sha256_of(path, decompress=True)
            except (OSError, EOFError, zlib.error) as exc:
                checks.append(FileCheck(pin.relpath, "differs, NOT usable",
                                        f"not a readable gzip file ({exc})"))
                continue
            if content == pin.content_sha256:
                checks.append(FileCheck(pin.relpath, "verified (content)",
                                        "gzip bytes differ (another gzip/zlib writer); the "
                                        f"decompressed content is identical ({content[:16]}...)"))
                continue
        checks.append(FileCheck(pin.relpath, *_usability(pin, path)))
    return checks


def print_checks(root: Path, checks: list[FileCheck]) -> None:
    print(f"data folder: {root}")
    for check in checks:
        print(f"  {check.relpath:<24} {check.status:<20} {check.detail}")


# ---------------------------------------------------------------- command line

_DATA_DIR = "<KPDISTILL_DATA_DIR>"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m components.data.fetch", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, help="data folder to write (esci/, wands/)")
    p.add_argument("--verify-only", nargs="?", const=_DATA_DIR, metavar="DIR",
                   help="only verify DIR (default: KPDISTILL_DATA_DIR, see components/settings.py)")
    p.add_argument("--sources", type=Path, help="source files folder (default OUT/sources); "
                   "files already there are not downloaded again")
    p.add_argument("--ref", help="git ref to download from instead of the pinned commits "
                   "(e.g. HEAD for the current versions)")
    p.add_argument("--products", choices=("all", "judged"), default="all",
                   help="all source products (the reference: 6,764) or only judged ones (6,597)")
    p.add_argument("--esci-examples", type=Path, metavar="PARQUET",
                   help="take query ids from a local ESCI shopping_queries_dataset_examples.parquet")
    p.add_argument("--download-esci-examples", action="store_true",
                   help="download that parquet (51 MB) into the sources folder and use it")
    p.add_argument("--timeout", type=float, default=DOWNLOAD_TIMEOUT_S,
                   help="seconds per download before giving up")
    p.add_argument("--force", action="store_true", help="download sources again")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.verify_only is not None:
        root = data_dir() if args.verify_only == _DATA_DIR else Path(args.verify_only)
        checks = verify(root)
        print_checks(root, checks)
        return 0 if all(c.ok for c in checks) else 1
    if args.out is None:
        _parser().error("give --out DIR (or --verify-only DIR)")
    sources = args.sources or args.out / "sources"
    examples = args.esci_examples
    try:
        fetch_sources(sources, args.ref, args.timeout, args.download_esci_examples, args.force)
        if args.download_esci_examples:
            examples = sources / ESCI_EXAMPLES.filename
        report = convert(sources, args.out, args.products, examples)
    except (FetchError, DataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {report.judgments} judgments ({report.queries} queries, ids from "
          f"{report.query_id_source}), {report.products} products, "
          f"{report.wands_queries} WANDS queries")
    for note in report.notes:
        print(f"note: {note}")
    checks = verify(args.out)
    print_checks(args.out, checks)
    return 0 if all(c.ok for c in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
