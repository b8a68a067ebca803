"""The batch every student loss receives, and the score it is computed on."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass
class TextBatch:
    """A batch of keyphrases, each with ``list_size`` items.

    ``items`` is flat: item ``j`` of keyphrase ``i`` is ``items[i * list_size + j]``.
    ``labels`` is ``[batch]`` when ``list_size == 1`` (pair tasks) else ``[batch, list_size]``;
    ``groups`` (optional, ``[batch]`` ints) marks rows that share a keyphrase or item, so
    in-batch negatives that are in fact positives can be masked.
    """

    keyphrases: list[str]
    items: list[str]
    list_size: int = 1
    labels: torch.Tensor | None = None
    groups: torch.Tensor | None = None

    def __post_init__(self):
        if len(self.items) != len(self.keyphrases) * self.list_size:
            raise ValueError(f"{len(self.keyphrases)} keyphrases × list_size {self.list_size} "
                             f"needs {len(self.keyphrases) * self.list_size} items, "
                             f"got {len(self.items)}")

    def __len__(self) -> int:
        return len(self.keyphrases)


def cosine_scores(keyphrase_emb: torch.Tensor, item_emb: torch.Tensor,
                  list_size: int) -> torch.Tensor:
    """Cosine similarity of each keyphrase to each of its items: ``[batch, list_size]``.

    Embeddings are re-normalised here, so truncated (Matryoshka) embeddings work as they are.
    """
    q = F.normalize(keyphrase_emb.float(), dim=-1)
    d = F.normalize(item_emb.float(), dim=-1).view(q.shape[0], list_size, -1)
    return torch.einsum("bd,bld->bl", q, d)
