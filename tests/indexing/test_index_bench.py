"""The index-at-scale bench: the keyphrase universe, exact search, the choice, and one small
measurement on real Milvus Lite."""

import json

import numpy as np
import pytest

from components.data import Item, Keyphrase, normalize_keyphrase
from components.indexing.bench import (
    REAL,
    SYNTHETIC,
    Budget,
    IndexSpec,
    Universe,
    catalogue_modifiers,
    choose,
    compose_synthetic,
    exact_top_k,
    keyphrase_universe,
    measure_backend,
    recall_at_k,
)
from components.indexing.store import connect, release_lite

KINDS = ["running shoes", "wine glasses", "coffee maker", "yoga mat", "desk lamp",
         "water bottle", "phone case", "throw pillow"]
BRANDS = ["Acme", "Globex", "Initech", "Umbrella", "Acme"]
COLOURS = ["Black", "white", "Navy Blue", "Black/White", "black"]


def catalogue() -> dict[str, Item]:
    """Items whose titles share product phrases (so they are mined) and carry brands/colours."""
    items = {}
    for n in range(40):
        kind = KINDS[n % len(KINDS)]
        items[f"i{n:02d}"] = Item(f"i{n:02d}", f"{kind.title()}, model {n}",
                                  brand=BRANDS[n % len(BRANDS)], color=COLOURS[n % len(COLOURS)],
                                  category=f"Home > {kind.title()}")
    return items


QUERIES = [Keyphrase("esci:1", "Red Wine Glasses", "red wine glasses", "esci"),
           Keyphrase("wands:1", "desk lamp", "desk lamp", "wands")]


def test_real_phrases_come_first_then_labelled_synthetic_ones():
    small = keyphrase_universe(1, catalogue(), QUERIES)
    assert small.texts == ["Red Wine Glasses"] and small.kinds == [REAL]
    u = keyphrase_universe(60, catalogue(), QUERIES)
    real = u.real
    # queries first (the WANDS one repeats a mined phrase: kept once, as the query), then mined
    assert u.texts[:2] == ["Red Wine Glasses", "desk lamp"] and u.sources[:2] == ["esci", "wands"]
    assert set(u.sources[2:real]) == {"mined"} and "running shoes" in u.texts[2:real]
    assert u.kinds == [REAL] * real + [SYNTHETIC] * (60 - real) and len(u) == 60
    assert set(u.sources[real:]) <= {"brand", "colour", "audience"}
    assert u.counts()["synthetic"] == u.synthetic == 60 - real
    # synthetic only once the real ones are exhausted
    assert keyphrase_universe(real, catalogue(), QUERIES).kinds == [REAL] * real
    assert small.real_available == u.real_available == u.head(5).real_available == real


def test_the_universe_is_deterministic_distinct_and_prefix_stable():
    a = keyphrase_universe(60, catalogue(), QUERIES, seed=3)
    assert a == keyphrase_universe(60, catalogue(), QUERIES, seed=3)
    assert keyphrase_universe(40, catalogue(), QUERIES, seed=3) == a.head(40)
    assert keyphrase_universe(60, catalogue(), QUERIES, seed=4).texts != a.texts
    normalized = [normalize_keyphrase(t) for t in a.texts]
    assert len(set(normalized)) == len(normalized)


def test_synthetic_phrases_compose_a_catalogue_modifier_with_a_mined_phrase():
    brands, colours = catalogue_modifiers(catalogue(), brands=2, colours=10)
    assert brands == ["acme", "globex"]  # most listed first, ties by name
    assert colours == ["black", "navy blue", "white"]  # "Black/White" is no plain colour
    u = keyphrase_universe(50, catalogue(), QUERIES, brands=2, colours=10)
    mined = set(u.texts[2:u.real])
    for text, source in zip(u.texts[u.real:], u.sources[u.real:], strict=True):
        if source == "audience":
            base, _, suffix = text.rpartition(" for ")
            assert suffix in {"women", "men", "kids", "girls", "boys", "baby"}
        else:
            modifier = next(m for m in (brands if source == "brand" else colours)
                            if text.startswith(m + " "))
            base = text[len(modifier) + 1:]
        assert base in mined


def test_composition_skips_what_the_phrase_already_says_and_runs_out_loudly():
    bases, colours = ["black dress", "shoes for men", "shoes"], ["black", "red"]
    taken = {"red shoes"}
    out = compose_synthetic(bases, [], colours, count=5, taken=taken, audiences=("for women",))
    # no "black black dress" / "red black dress" (a colour there already), no audience on
    # "shoes for men", no "red shoes" (a real phrase)
    assert sorted(out) == [("black dress for women", "audience"), ("black shoes", "colour"),
                           ("black shoes for men", "colour"), ("red shoes for men", "colour"),
                           ("shoes for women", "audience")]
    assert {t for t, _ in out} < taken
    with pytest.raises(ValueError, match="5 distinct synthetic"):
        compose_synthetic(bases, [], colours, count=6, taken={"red shoes"},
                          audiences=("for women",))


def test_exact_top_k_matches_a_brute_force_argsort_over_chunks():
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(1000, 16)).astype(np.float32)
    queries = rng.normal(size=(37, 16)).astype(np.float32)
    want = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :10]
    assert (exact_top_k(queries, vectors, 10, chunk_rows=64, query_chunk=5) == want).all()
    assert (exact_top_k(queries, vectors, 10, chunk_rows=7) == want).all()  # chunks < k
    assert (exact_top_k(queries, vectors[:4], 10) == want_small(queries, vectors[:4])).all()
    tied = np.ones((6, 4), np.float32)
    assert exact_top_k(tied[:1], tied, 3, chunk_rows=2).tolist() == [[0, 1, 2]]  # ties: index
    assert recall_at_k([[1, 2, 3]], np.array([[1, 2, 4]]), 3) == pytest.approx(2 / 3)


def want_small(queries, vectors):
    return np.argsort(-(queries @ vectors.T), axis=1, kind="stable")


def _row(backend, n, p99, recall, ef):
    return {"backend": backend, "keyphrases": n, "real": 10, "synthetic": n - 10,
            "index_type": "HNSW", "index_params": {"M": 16}, "search_params": {"ef": ef},
            "insert_s": 1.0, "index_build_s": 2.0, "queries": 100, "search_p50_ms": p99 / 2,
            "search_p95_ms": p99, "search_p99_ms": p99, "recall_at_10": recall}


def test_choose_the_lowest_p99_that_meets_the_goal_at_the_largest_size():
    rows = [_row("s", 1000, 1.0, 0.99, 8),  # smaller size: never chosen at the largest
            _row("s", 5000, 4.0, 0.97, 64), _row("s", 5000, 6.0, 0.995, 128),
            _row("s", 5000, 3.0, 0.90, 32), _row("s", 5000, 12.0, 1.0, 256),
            {**_row("s", 5000, 0.1, 1.0, 512), "skipped": "budget"},
            _row("lite", 9000, 1.0, 1.0, 96)]
    chosen = choose(rows, "s")
    assert chosen["search_params"] == {"ef": 64} and chosen["meets_goal"] is True
    assert chosen["keyphrases"] == 5000 and chosen["p99_ms"] == 4.0
    assert chosen["recall@10"] == 0.97 and chosen["real"] == 10
    missed = choose([_row("s", 5000, 3.0, 0.90, 32), _row("s", 5000, 12.0, 0.93, 256),
                     _row("s", 5000, 11.0, 0.93, 128)], "s")
    assert missed["meets_goal"] is False and missed["search_params"] == {"ef": 128}
    assert choose(rows, "nothing") is None


def _unit(rng, shape):
    x = rng.normal(size=shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_a_small_measurement_on_milvus_lite(tmp_path):
    rng = np.random.default_rng(1)
    n = 2000
    vectors, queries = _unit(rng, (n, 32)), _unit(rng, (20, 32))
    universe = Universe([f"kp {i}" for i in range(n)], [REAL] * 1500 + [SYNTHETIC] * 500,
                        ["mined"] * 1500 + ["brand"] * 500)
    grid = [IndexSpec("FLAT", {}, ({},)),
            IndexSpec("HNSW", {"M": 16, "efConstruction": 200}, ({"ef": 64},))]
    uri = str(tmp_path / "bench.db")
    client = connect(uri)
    try:
        rows = measure_backend(client, uri, "lite", universe, vectors, queries,
                               exact_top_k(queries, vectors), grid, insert_rate=1000,
                               index_timeout_s=60, insert_batch=700, insert_threads=2)
        skipped = measure_backend(client, uri, "lite", universe, vectors, queries,
                                  exact_top_k(queries, vectors), grid, Budget(0.0))
        assert client.list_collections() == []  # each measurement drops its collection
    finally:
        client.close()
        release_lite(uri)
    flat, hnsw = rows
    assert flat["recall_at_10"] == 1.0 and hnsw["recall_at_10"] >= 0.9
    for row in rows:
        assert {"backend", "keyphrases", "real", "synthetic", "index_type", "index_params",
                "search_params", "insert_s", "index_build_s", "load_s", "queries",
                "search_p50_ms", "search_p95_ms", "search_p99_ms", "recall_at_10"} <= set(row)
        assert (row["keyphrases"], row["real"], row["synthetic"], row["queries"]) == \
            (n, 1500, 500, 20)
        assert 0 < row["search_p50_ms"] <= row["search_p95_ms"] <= row["search_p99_ms"]
        assert row["segments"] is None  # Lite: no segments to count
    assert hnsw["search_params"] == {"ef": 64} and hnsw["index_params"]["M"] == 16
    assert len(skipped) == 2 and all("budget" in r["skipped"] for r in skipped)
    json.dumps(rows)  # the rows go into gateway.json as they are
