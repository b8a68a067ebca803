"""The CLI client's printing: dimension estimates as "type ✓ brand ✗", threshold included."""

from serving.gateway.client import format_dimensions, format_table
from serving.proto.kpdistill.v1 import recommender_pb2 as pb


def estimate(name, match, mismatch, not_mentioned):
    return pb.DimensionEstimate(dimension=name, match=match, mismatch=mismatch,
                                not_mentioned=not_mentioned)


HEADS = [estimate("type", 0.9, 0.05, 0.05), estimate("brand", 0.6, 0.3, 0.1),
         estimate("size", 0.1, 0.8, 0.1), estimate("colour", 0.05, 0.05, 0.9),
         estimate("model", 0.4, 0.35, 0.25)]


def test_marks_match_mismatch_and_unsure_and_leave_out_what_is_not_mentioned():
    assert format_dimensions(HEADS) == "type ✓ brand ✓ size ✗ model ?"
    assert format_dimensions([]) == ""


def test_the_threshold_decides_what_counts_as_an_answer():
    assert format_dimensions(HEADS, threshold=0.7) == "type ✓ brand ? size ✗ model ?"
    assert format_dimensions(HEADS, threshold=0.35) == "type ✓ brand ✓ size ✗ model ✓"


def test_table_has_a_dimensions_column_only_when_the_answer_carries_estimates():
    kp = pb.RecommendedKeyphrase(rank=1, text="red wine glasses", bi_encoder_score=0.81,
                                 cross_encoder_score=0.93, category="Home & Kitchen",
                                 source="esci", dimensions=HEADS[:3])
    explained = format_table(pb.RecommendResponse(keyphrases=[kp], model_version="m"))
    header, _, row = explained.splitlines()[:3]
    assert header.split()[-1] == "dimensions"
    assert row.endswith("type ✓ brand ✓ size ✗") and "0.930" in row

    del kp.dimensions[:]
    plain = format_table(pb.RecommendResponse(keyphrases=[kp], model_version="m"))
    assert "dimensions" not in plain.splitlines()[0]
