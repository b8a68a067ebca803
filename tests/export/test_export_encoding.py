"""The served encoder's batching logic and its two runners (ONNX Runtime, torch CPU path)."""

from __future__ import annotations

import numpy as np
import pytest

from components.export import graphs, onnx_export
from components.export.parity import parity_texts
from components.export.standin import standin_student
from components.export.templates import encoding_module, tokenization_module
from components.models.pretrained import minilm_path

enc = encoding_module()


def test_shape_buckets_trim_and_pad():
    assert [enc.bucket(n, (1, 8, 64)) for n in (1, 2, 8, 9, 64, 65)] == [1, 8, 8, 64, 64, None]
    assert [enc.round_up(n, 16) for n in (1, 16, 17, 32)] == [16, 16, 32, 32]
    feed = {"input_ids": np.array([[5, 6, 0, 0, 0], [7, 0, 0, 0, 0]]),
            "attention_mask": np.array([[1, 1, 0, 0, 0], [1, 0, 0, 0, 0]])}
    trimmed = enc.trim_padding(feed)
    np.testing.assert_array_equal(trimmed["input_ids"], [[5, 6], [7, 0]])
    np.testing.assert_array_equal(trimmed["attention_mask"], [[1, 1], [1, 0]])
    assert enc.trim_padding({"input_ids": feed["input_ids"]}) is not None  # no mask: as is
    assert enc.trim_padding(trimmed) is trimmed
    padded = enc.pad_to(trimmed, 4, 16)
    assert padded["input_ids"].shape == padded["attention_mask"].shape == (4, 16)
    np.testing.assert_array_equal(padded["input_ids"][:2, :2], trimmed["input_ids"])
    # the added rows attend to one token (no fully masked row), the real rows are unchanged
    np.testing.assert_array_equal(padded["attention_mask"][:, :3],
                                  [[1, 1, 0], [1, 0, 0], [1, 0, 0], [1, 0, 0]])
    assert padded["attention_mask"][:, 3:].sum() == 0 and padded["input_ids"][2:].sum() == 0


def test_merge_requests_pads_to_the_longest_and_keeps_order():
    a = {"input_ids": np.array([[1, 2, 3]]), "attention_mask": np.array([[1, 1, 1]])}
    b = {"input_ids": np.array([[4], [5]]), "attention_mask": np.array([[1], [1]])}
    merged, sizes = enc.merge_requests([a, b])
    assert sizes == [1, 2]
    np.testing.assert_array_equal(merged["input_ids"], [[1, 2, 3], [4, 0, 0], [5, 0, 0]])
    np.testing.assert_array_equal(merged["attention_mask"], [[1, 1, 1], [1, 0, 0], [1, 0, 0]])
    assert [p.shape[0] for p in enc.split_output(np.zeros((3, 4)), sizes)] == [1, 2]
    with pytest.raises(ValueError):
        enc.merge_requests([])
    with pytest.raises(ValueError, match="batch, sequence"):
        enc.merge_requests([{"input_ids": np.zeros(3)}])


@pytest.mark.slow
def test_merged_requests_give_the_same_embeddings_as_separate_ones(model_repository):
    runner = enc.OnnxRunner(model_repository / "encoder" / "1" / "model.onnx")
    tok = tokenization_module().BatchTokenizer(minilm_path(), max_length=64)
    items, keyphrases = parity_texts(6)
    requests = [tok.encode(items[:2]), tok.encode(keyphrases[:3]), tok.encode(items[2:3])]
    merged, sizes = enc.merge_requests(requests)
    together = enc.split_output(runner(merged), sizes)
    for request, out in zip(requests, together, strict=True):
        np.testing.assert_allclose(out, runner(request), atol=1e-5)


def test_length_groups_bound_the_padding_and_keep_equal_lengths_together():
    lengths = [10, 60, 12, 58, 11, 30]
    groups = enc.length_groups(lengths, 0.25)
    assert sorted(int(i) for g in groups for i in g) == list(range(6))
    assert [sorted(lengths[i] for i in g) for g in groups] == [[10, 11, 12], [30], [58, 60]]
    for g in groups:  # padding each group to its longest adds at most 25% of its tokens
        real = sum(lengths[i] for i in g)
        assert len(g) * max(lengths[i] for i in g) - real <= 0.25 * real
    assert [len(g) for g in enc.length_groups([7] * 64, 0.0)] == [64]
    assert len(enc.length_groups(lengths, 10.0)) == 1


@pytest.mark.slow
def test_grouped_runner_gives_the_merged_batchs_embeddings(model_repository):
    """Real ESCI-like texts of mixed lengths, merged into one padded batch as Triton hands it
    over: run in length groups (the python-onnx student's setting), the same embeddings."""
    path = model_repository / "encoder" / "1" / "model.onnx"
    merged_runner = enc.OnnxRunner(path)
    grouped_runner = enc.OnnxRunner(path, max_padding_share=0.25)
    tok = tokenization_module().BatchTokenizer(minilm_path(), max_length=64)
    items, keyphrases = parity_texts(12)
    batch = tok.encode([*items[:6], *keyphrases[:6], "usb c cable"])
    np.testing.assert_allclose(grouped_runner(batch), merged_runner(batch), atol=1e-5)
    one = tok.encode(items[:1])
    np.testing.assert_allclose(grouped_runner(one), merged_runner(one), atol=1e-6)


@pytest.mark.slow
def test_torch_runner_cpu_path_matches_torch(tmp_path):
    """The GPU model's code path (traced TorchScript, sdpa attention) run on CPU in fp32,
    against sentence-transformers, at batch sizes and lengths other than the traced ones."""
    from sentence_transformers import SentenceTransformer
    path = onnx_export.save_torchscript(
        graphs.load_embedding_graph(standin_student(), attn_implementation="sdpa"),
        onnx_export.STUDENT_INPUTS, tmp_path / "model.pt")
    runner = enc.TorchRunner(path, ["input_ids", "attention_mask"], device="cpu")
    tok = tokenization_module().BatchTokenizer(minilm_path(), max_length=64)
    model = SentenceTransformer(str(standin_student()), device="cpu")
    model.max_seq_length = 64
    items, keyphrases = parity_texts(9)
    for texts in (items, keyphrases[:1], ["usb c cable", *items[:4]]):
        ref = model.encode(texts, normalize_embeddings=True)
        assert np.min(np.sum(runner(tok.encode(texts)) * ref, axis=1)) > 0.9999
    # extra padding columns and bucket-padded rows (what the CUDA-graph path feeds) change
    # nothing: the runner trims the columns, the added rows are cut from the outputs
    feed = tok.encode(items[:3])
    wide = {k: np.pad(v, ((0, 0), (0, 40))) for k, v in feed.items()}
    np.testing.assert_allclose(runner(wide), runner(feed), atol=1e-5)
    bucketed = enc.pad_to(feed, 8, enc.round_up(feed["input_ids"].shape[1], 16))
    np.testing.assert_allclose(runner(bucketed)[:3], runner(feed), atol=1e-5)
    graphs_on_cpu = enc.TorchRunner(path, ["input_ids", "attention_mask"], device="cpu",
                                    cuda_graphs=True)
    assert not graphs_on_cpu.cuda_graphs  # CUDA only: the CPU path stays eager
    np.testing.assert_allclose(graphs_on_cpu(feed), runner(feed), atol=1e-6)
    assert graphs_on_cpu.captured_shapes == []
