from components.data.bundle import DataBundle
from components.data.keyphrases import normalize_keyphrase


def test_bundle_round_trip(bundle, tmp_path):
    manifest = bundle.save(tmp_path / "data")
    loaded = DataBundle.load(tmp_path / "data")
    assert loaded.items == bundle.items
    assert loaded.judgments == bundle.judgments
    assert loaded.split.assignment == bundle.split.assignment
    assert loaded.keyphrases == bundle.keyphrases
    assert manifest["judgments"] == 6678


def test_keyphrase_universe(bundle):
    universe = bundle.keyphrases
    assert sum(k.source == "esci" for k in universe) == 150
    normalized = [k.normalized for k in universe]
    assert len(normalized) == len(set(normalized))
    assert 600 <= len(universe) <= 630
    wands = [k for k in universe if k.source == "wands"]
    assert sum(bool(k.keyphrase_class) for k in wands) > 0.9 * len(wands)


def test_normalize_keyphrase():
    assert normalize_keyphrase("  Ｔ  Towels\tKITCHEN ") == "t towels kitchen"


def test_mined_keyphrases_join_the_universe_after_the_queries(data_root, tmp_path):
    from components.data.esci import Judgment
    from components.data.keyphrases import Keyphrase, build_keyphrase_universe

    judgments = [Judgment("1", "Phone Case", "a", "E")]
    mined = [Keyphrase("mined:0", "phone case", "phone case", "mined"),
             Keyphrase("mined:1", "wireless earbuds", "wireless earbuds", "mined")]
    universe = build_keyphrase_universe(judgments, [], mined)
    assert [(k.keyphrase_id, k.source) for k in universe] == [("esci:1", "esci"),
                                                              ("mined:1", "mined")]

    b = DataBundle.from_raw(data_root, mined_keyphrases=200)
    counts = b.manifest()["keyphrases_by_source"]
    assert counts == {"esci": 150, "wands": 480, "mined": counts["mined"]}
    assert 190 <= counts["mined"] <= 200  # a mined phrase equal to a WANDS query is dropped
    queries = {normalize_keyphrase(j.query) for j in b.judgments}
    assert not any(k.normalized in queries for k in b.keyphrases if k.source == "mined")
    again = DataBundle.load(tmp_path / "b") if b.save(tmp_path / "b") else None
    assert again.keyphrases == b.keyphrases
