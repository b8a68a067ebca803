"""Category of each keyphrase: the top-level item category it retrieves.

An ESCI query's category is the most common top-level category among the products judged
for it (the set Search retrieved; the grades are not used). Sources without item data get
the category their config names (``IndexConfig.source_categories``) or none.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from components.contracts import top_level_category
from components.data import Item, Judgment, Keyphrase


def keyphrase_categories(keyphrases: list[Keyphrase], judgments: list[Judgment],
                         items: dict[str, Item],
                         source_categories: dict[str, str] | None = None) -> dict[str, str]:
    """keyphrase_id -> top-level category ('' when unknown)."""
    votes: dict[str, Counter] = defaultdict(Counter)
    for j in judgments:
        item = items.get(j.item_id)
        top = top_level_category(item.category) if item else ""
        if top:
            votes[f"esci:{j.query_id}"][top] += 1
    fallback = source_categories or {}
    out = {}
    for kp in keyphrases:
        counts = votes.get(kp.keyphrase_id)
        if counts:
            # Most common; ties broken by name so the result does not depend on input order.
            out[kp.keyphrase_id] = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))[0]
        else:
            out[kp.keyphrase_id] = fallback.get(kp.source, "")
    return out
