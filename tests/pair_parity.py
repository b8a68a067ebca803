"""Re-ranking both ways on a real tritonserver, for the parity tests of TOKENIZE=gateway (the
gateway tokenizes pairs and calls ``cross_encoder`` on ids) against TOKENIZE=triton (strings to
the ``score_pairs`` ensemble): tests/serving/triton (a cross-encoder without heads) and
tests/serving/gateway/test_gateway_e2e.py (with dimension heads)."""

from __future__ import annotations

import asyncio

import numpy as np

from components.contracts import ITEM_FIELDS, item_text
from components.data import load_items, load_judgments
from serving.gateway.triton_client import TritonModelClient


def real_pairs(limit: int = 40, past_cap: int = 8) -> tuple[list[str], list[str]]:
    """Real (keyphrase, item text) pairs: ESCI queries and an item judged for each, the last
    ``past_cap`` with the item's description too (past a 64-token cap)."""
    items = load_items()
    judged = [j for j in load_judgments() if j.item_id in items
              and items[j.item_id].description][:limit + past_cap]
    texts = [item_text(items[j.item_id], ITEM_FIELDS) for j in judged[:limit]] + \
        [item_text(items[j.item_id], (*ITEM_FIELDS, "description")) for j in judged[limit:]]
    return [j.query for j in judged], texts


def score_both_ways(url: str, pair_tokenizer_dir: str, keyphrases: list[str],
                    texts: list[str]) -> tuple[int, int, list]:
    """TOKENIZE=gateway (the gateway tokenizes pairs, ``cross_encoder`` on ids) and
    TOKENIZE=triton (strings to ``score_pairs``) on the same pairs: one pair a call for the
    first six, then calls of 16. Returns the served pair cap, how many pairs it cuts, and
    ``(scores, estimates, dimension names)`` of each way."""
    async def both():
        by_ids = TritonModelClient(url, pair_tokenizer_dir=pair_tokenizer_dir)
        by_text = TritonModelClient(url)
        try:
            assert by_ids.rerank_model == "cross_encoder" and by_text.rerank_model == "score_pairs"
            tokenizer = await by_ids.pair_tokenizer()
            lengths = tokenizer.encode(keyphrases, texts)["attention_mask"].sum(axis=1)
            cap, cut = tokenizer.max_length, int((lengths == tokenizer.max_length).sum())
            out = []
            for client in (by_ids, by_text):
                calls = [await client.score_pairs(keyphrases[a:a + 1], texts[a:a + 1], 10)
                         for a in range(6)]
                calls += [await client.score_pairs(keyphrases[a:a + 16], texts[a:a + 16], 10)
                          for a in range(0, len(texts), 16)]
                estimates = [c.estimates for c in calls if c.estimates is not None]
                out.append((np.concatenate([c.scores for c in calls]),
                            np.concatenate(estimates) if estimates else None,
                            calls[0].dimensions))
            return cap, cut, out
        finally:
            await by_ids.close()
            await by_text.close()

    return asyncio.run(both())
