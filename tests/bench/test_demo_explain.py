"""The serving demo's explanations: which dimensions a repository serves, and their lines."""

from bench.serving.demo import explained_lines, served_dimensions
from components.export import repository
from serving.proto.kpdistill.v1 import recommender_pb2 as pb


def _score_pairs(tmp_path, dimensions):
    (tmp_path / "score_pairs").mkdir(parents=True)
    (tmp_path / "score_pairs" / "config.pbtxt").write_text(repository.render_config(
        "score_pairs", max_batch_size=8, **repository.dimension_blocks(dimensions)))
    return tmp_path


def test_served_dimensions_are_read_from_the_score_pairs_config(tmp_path):
    assert served_dimensions(_score_pairs(tmp_path / "a", ("type", "brand"))) == ("type", "brand")
    assert served_dimensions(_score_pairs(tmp_path / "b", ())) == ()


def test_explained_lines_carry_the_marks():
    kp = pb.RecommendedKeyphrase(text="red wine glasses", cross_encoder_score=0.91, dimensions=[
        pb.DimensionEstimate(dimension="type", match=0.8, mismatch=0.1, not_mentioned=0.1),
        pb.DimensionEstimate(dimension="brand", match=0.0, mismatch=0.0, not_mentioned=1.0)])
    bare = pb.RecommendedKeyphrase(text="glasses", cross_encoder_score=0.5)
    lines = explained_lines(pb.RecommendResponse(keyphrases=[kp, bare]))
    assert lines[0].split() == ["red", "wine", "glasses", "P", "0.91", "type", "✓"]
    assert lines[1].endswith("(no dimension named)")
