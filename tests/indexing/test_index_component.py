from kfp import compiler


def test_build_index_component_compiles(tmp_path):
    from components.indexing.component import build_index

    out = tmp_path / "build_index.yaml"
    compiler.Compiler().compile(build_index, str(out))
    text = out.read_text()
    assert "components.indexing.builder" in text
    for name in ("data", "student", "index", "metrics", "milvus_uri", "model_version"):
        assert f"{name}:" in text, name
