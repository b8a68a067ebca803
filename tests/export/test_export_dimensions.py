"""The cross-encoder's dimension heads in the export: the ONNX ``dimensions`` output equals the
torch heads on a tiny model, the parity gate covers it, the repository configs declare and wire
it (names in order), and a model without heads exports exactly as before."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from components.export import onnx_export, parity, repository
from components.export.config import ExportConfig
from components.export.graphs import backbone_dir, cross_encoder_dimensions
from components.export.templates import encoding_module, tokenization_module
from components.models.pretrained import minilm_path

DIMS = ("type", "brand", "size")
ITEMS = ["Libbey Vina red wine glasses, set of 6 | Libbey | Home & Kitchen",
         "Trail running shoe for men, size 10 | Salomon | Shoes",
         "USB-C charging cable 2 m | Anker | Electronics"]
KEYPHRASES = ["red wine glasses", "womens running shoes size 7", "lightning cable"]
CONFIG = ExportConfig(max_seq_length=32, student_precision="fp32")


def tiny_cross_encoder(out, dimensions=DIMS, seed: int = 0):
    """A 1-layer, 32-wide BERT with MiniLM's tokenizer: relevance logit + 3 per head, laid out
    and named as components.training.cross_encoder saves them."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(backbone_dir(minilm_path())))
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                        num_labels=1 + 3 * len(dimensions))
    if dimensions:
        config.kpdistill_dimensions = list(dimensions)
    model = BertForSequenceClassification(config).eval()
    with torch.no_grad():  # logits far from uniform, so a wrong head order would show
        model.classifier.weight.mul_(50)
        model.classifier.bias.copy_(3 * torch.randn(config.num_labels))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def tiny_with_heads(tmp_path_factory):
    return tiny_cross_encoder(tmp_path_factory.mktemp("tiny-heads"))


def _tokens(model_dir):
    tokenizer = tokenization_module().BatchTokenizer(model_dir, CONFIG.max_seq_length,
                                                     pair_order=CONFIG.pair_order)
    return tokenizer.encode_pairs(ITEMS, KEYPHRASES)


def test_onnx_dimensions_output_equals_the_torch_heads(tiny_with_heads, tmp_path):
    from sentence_transformers import CrossEncoder

    from components.models.cross_encoder import CrossEncoderScorer

    path = onnx_export.export_cross_encoder(tiny_with_heads, tmp_path / "ce.onnx", CONFIG)
    graph = onnx.load(str(path))
    assert [o.name for o in graph.graph.output] == ["score", "dimensions"]
    out = encoding_module().OnnxRunner(path).outputs(_tokens(tiny_with_heads))
    assert out["score"].shape == (3, 1) and out["dimensions"].shape == (3, len(DIMS), 3)

    scorer = CrossEncoderScorer(CrossEncoder(str(tiny_with_heads), device="cpu"),
                                max_length=CONFIG.max_seq_length)
    assert scorer.dimensions == DIMS
    torch_heads = scorer.dimension_estimates(KEYPHRASES, ITEMS)
    assert np.abs(out["dimensions"] - torch_heads).max() < 1e-5
    assert np.abs(out["score"][:, 0] - scorer.score_pairs(KEYPHRASES, ITEMS)).max() < 1e-5
    assert np.allclose(out["dimensions"].sum(axis=-1), 1.0, atol=1e-6)
    assert out["dimensions"].max() > 0.9  # not uniform: the heads' order is really tested

    report = parity.check_cross_encoder(path, tiny_with_heads, CONFIG, ITEMS, KEYPHRASES)
    assert report.dimensions == DIMS and report.max_dimension_diff < 1e-5


def test_a_model_without_heads_exports_score_alone(tmp_path):
    model_dir = tiny_cross_encoder(tmp_path / "plain", dimensions=())
    assert cross_encoder_dimensions(model_dir) == ()
    path = onnx_export.export_cross_encoder(model_dir, tmp_path / "ce.onnx", CONFIG)
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["score"]
    report = parity.check_cross_encoder(path, model_dir, CONFIG, ITEMS, KEYPHRASES)
    assert report.dimensions is None and report.max_dimension_diff is None


def test_parity_gate_refuses_dimensions_that_drift(tiny_with_heads, tmp_path, monkeypatch):
    path = onnx_export.export_cross_encoder(tiny_with_heads, tmp_path / "ce.onnx", CONFIG)
    real = parity.reference_outputs

    def shuffled_heads(model, pairs):
        score, heads = real(model, pairs)
        return score, heads[:, ::-1].copy()  # the dimension order reversed
    monkeypatch.setattr(parity, "reference_outputs", shuffled_heads)
    with pytest.raises(parity.ParityError, match="dimension probability"):
        parity.check_cross_encoder(path, tiny_with_heads, CONFIG, ITEMS, KEYPHRASES)


def _parse(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())


@pytest.mark.parametrize("dimensions", [DIMS, ()])
def test_repository_configs_declare_and_wire_the_dimensions_output(dimensions):
    from tests.export.test_export_repository import check_ensemble

    config = ExportConfig()
    configs = {
        "pair_tokenizer": _parse(repository.tokenizer_config("pair_tokenizer", config)),
        "cross_encoder": _parse(repository.encoder_config(
            "cross_encoder", "python-onnx", config, "score", "cls", 1, dimensions)),
        "score_pairs": _parse(repository.render_config(
            "score_pairs", max_batch_size=config.max_batch_size,
            **repository.dimension_blocks(dimensions))),
    }
    check_ensemble(configs["score_pairs"], configs)
    for name in ("cross_encoder", "score_pairs"):
        outputs = [(o.name, list(o.dims)) for o in configs[name].output]
        if dimensions:
            assert outputs == [("score", [1]), ("dimensions", [len(dimensions), 3])]
            assert configs[name].parameters["dimensions"].string_value == "type,brand,size"
        else:  # exactly the configs a model without heads always had
            assert outputs == [("score", [1])]
            assert "dimensions" not in configs[name].parameters


def test_dimension_names_that_would_break_the_parameter_are_refused():
    with pytest.raises(ValueError, match="dimension names"):
        repository.dimension_blocks(("type", "size,colour"))
