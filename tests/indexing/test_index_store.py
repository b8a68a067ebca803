"""Index build on real Milvus Lite: versioned collections, atomic alias, manifest, pruning."""

import numpy as np
import pytest
from index_fakes import KEYPHRASES, records

from components.indexing.builder import build_keyphrase_index, keyphrase_records
from components.indexing.store import KeyphraseStore, version_collection_name


def test_build_publishes_a_searchable_collection_behind_the_alias(lite_config, encoder):
    manifest = build_keyphrase_index(records(), encoder, lite_config, "v1")
    assert manifest.count == len(KEYPHRASES) and manifest.dim == encoder.dim
    assert manifest.categories == ["Clothing, Shoes & Jewelry", "Electronics", "Home & Kitchen"]
    store = KeyphraseStore(lite_config)
    try:
        assert store.live_collection() == manifest.collection
        live = store.live_version()
        assert live.model_version == "v1" and live.count == len(KEYPHRASES)
        hits = store.search(encoder.encode(["wine glasses for red wine"]), 3)[0]
        assert hits[0]["entity"]["text"] == "wine glasses"
        assert hits[0]["distance"] == pytest.approx(
            float(encoder.encode(["wine glasses for red wine"])[0]
                  @ encoder.encode(["wine glasses"])[0]), abs=1e-4)
    finally:
        store.close()


def test_category_filter_only_returns_that_category(lite_config, encoder):
    build_keyphrase_index(records(), encoder, lite_config, "v1")
    store = KeyphraseStore(lite_config)
    try:
        hits = store.search(encoder.encode(["mattress"]), 10, category="Electronics")[0]
        assert hits and {h["entity"]["category"] for h in hits} == {"Electronics"}
    finally:
        store.close()


def test_rebuild_switches_the_alias_and_prunes_old_versions(lite_config, encoder):
    assert lite_config.keep_versions == 2
    first = build_keyphrase_index(records(), encoder, lite_config, "v1")
    second = build_keyphrase_index(records(KEYPHRASES[:3]), encoder, lite_config, "v2")
    third = build_keyphrase_index(records(KEYPHRASES[:2]), encoder, lite_config, "v3")
    assert third.dropped == [first.collection]
    store = KeyphraseStore(lite_config)
    try:
        names = set(store.client.list_collections())
        assert {second.collection, third.collection} <= names and first.collection not in names
        assert store.live_version().model_version == "v3"
        assert len(store.search(encoder.encode(["shoes"]), 10)[0]) == 2  # v3 holds 2 rows
        # the previous build stays searchable by name for a rollback
        assert len(store.search(encoder.encode(["shoes"]), 10,
                                collection=second.collection)[0]) == 3
    finally:
        store.close()


def test_bad_builds_are_refused_before_anything_is_written(lite_config, encoder):
    with pytest.raises(ValueError, match="no keyphrases"):
        build_keyphrase_index([], encoder, lite_config)
    with pytest.raises(ValueError, match="unique"):
        build_keyphrase_index(records(KEYPHRASES[:1] * 2), encoder, lite_config)
    store = KeyphraseStore(lite_config)
    try:
        assert store.live_collection() is None and store.live_version() is None
        with pytest.raises(ValueError, match="2 keyphrases but 1 embeddings"):
            store.insert("x", records(KEYPHRASES[:2]), np.zeros((1, 4), np.float32))
    finally:
        store.close()


def test_collection_names_are_valid_milvus_names():
    name = version_collection_name("kp", "student/v1.2-rc")
    assert name.startswith("kp_student_v1_2_rc_") and name.replace("_", "").isalnum()


def test_keyphrase_records_carry_categories():
    from components.data import Keyphrase

    got = keyphrase_records([Keyphrase("esci:1", "Lamp", "lamp", "esci")], {"esci:1": "Home"})
    assert got[0].category == "Home" and got[0].normalized == "lamp"


def test_handled_milvus_errors_are_not_logged_as_errors_but_others_still_are(lite_config, caplog):
    """Asking for the alias before the first publish fails inside pymilvus, which logs an ERROR
    with a traceback; the store handles that answer (None), so nothing is logged as an error.
    A failure the store does not handle is still logged by pymilvus."""
    from pymilvus.exceptions import MilvusException

    store = KeyphraseStore(lite_config)
    try:
        with caplog.at_level("ERROR", logger="pymilvus"):
            assert store.live_collection() is None
        assert not [r for r in caplog.records if r.levelname == "ERROR"]
        with caplog.at_level("ERROR", logger="pymilvus"), pytest.raises(MilvusException):
            store.client.describe_alias("not_there")
        assert [r for r in caplog.records if r.name == "pymilvus.decorators"]
    finally:
        store.close()
