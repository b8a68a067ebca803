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
