"""Keyphrase encoders for bulk indexing: the exported student directly, or Triton's embed_text.

Both return L2-normalised float32 rows, the form the index's inner-product metric expects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from components.contracts import EMBED_INPUT, EMBED_MODEL, EMBED_OUTPUT


class KeyphraseEncoder(Protocol):
    model_version: str

    def encode(self, texts: list[str]) -> np.ndarray: ...


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEncoder:
    """The student as a sentence-transformers directory (bulk work, no server needed), on
    ``device`` ("cpu" by default; "cuda" embeds a million phrases in seconds), ``batch_size``
    texts at a time."""

    def __init__(self, model_dir: Path | str, batch_size: int = 64, model_version: str = "",
                 device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(str(model_dir), device=device)
        self.batch_size = batch_size
        self.model_version = model_version or Path(model_dir).name

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = self.model.encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                    normalize_embeddings=True, show_progress_bar=len(texts) > 2000)
        return l2_normalize(vectors)


class TritonEncoder:
    """Triton's ``embed_text`` ensemble over gRPC: the index sees exactly what serving sees."""

    def __init__(self, grpc_url: str, model_version: str = "triton", batch_size: int = 64,
                 timeout_s: float = 60.0):
        self.grpc_url = grpc_url
        self.model_version = model_version
        self.batch_size = batch_size
        self.timeout_s = timeout_s

    def encode(self, texts: list[str]) -> np.ndarray:
        import tritonclient.grpc as triton

        client = triton.InferenceServerClient(self.grpc_url)
        try:
            parts = [self._embed(client, texts[i:i + self.batch_size])
                     for i in range(0, len(texts), self.batch_size)]
        finally:
            client.close()
        return l2_normalize(np.concatenate(parts)) if parts else np.zeros((0, 0), np.float32)

    def _embed(self, client, texts: list[str]) -> np.ndarray:
        import tritonclient.grpc as triton

        tensor = triton.InferInput(EMBED_INPUT, [len(texts), 1], "BYTES")
        tensor.set_data_from_numpy(np.array([[t.encode("utf-8")] for t in texts],
                                            dtype=np.object_))
        result = client.infer(EMBED_MODEL, [tensor],
                              outputs=[triton.InferRequestedOutput(EMBED_OUTPUT)],
                              client_timeout=self.timeout_s)
        return np.asarray(result.as_numpy(EMBED_OUTPUT), dtype=np.float32).reshape(len(texts), -1)
