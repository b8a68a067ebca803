"""Keyphrases generated from item text: answer cleaning, exclusion, and a real generate() call."""

from __future__ import annotations

import pytest
import torch

from bench.cv.querygen import clean_answer, generate_keyphrases, item_prompt, render
from components.data import Item


@pytest.mark.parametrize("answer,want", [
    ("wireless earbuds for running", "wireless earbuds for running"),
    ('"Stainless Steel Water Bottle"\n', "stainless steel water bottle"),
    ("Query: kids rain boots.", "kids rain boots"),
    ("  \n\nblue  yoga   mat\nsecond line", "blue yoga mat"),
    ("men's leather wallet", "men's leather wallet"),
])
def test_usable_answers_become_keyphrases(answer, want):
    assert clean_answer(answer) == (want, "")


@pytest.mark.parametrize("answer,why", [
    ("", "empty"), ("   \n ", "empty"), ('""', "empty"),
    ("lamp", "length"),
    ("a very long answer that goes on and on about this product", "length"),
    ("<tool_call>{}", "characters"), ("earbuds 🎧 wireless", "characters"),
])
def test_unusable_answers_are_dropped_with_a_reason(answer, why):
    assert clean_answer(answer) == (None, why)


def test_prompt_carries_the_item_fields_and_the_instruction():
    item = Item("p1", "Hydra Bottle 750 ml", brand="Hydra", category="Sports > Bottles")
    text = item_prompt(item)
    assert "Product: Hydra Bottle 750 ml" in text and "Brand: Hydra" in text
    assert "Category: Sports > Bottles" in text and text.endswith("lowercase.")


class _ScriptedLM(torch.nn.Module):
    """Answers each prompt with a scripted text (the generation loop around it is real)."""

    def __init__(self, tokenizer, answers):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.tokenizer, self.answers = tokenizer, list(answers)

    def generate(self, input_ids, attention_mask, max_new_tokens, do_sample, pad_token_id):
        assert not do_sample and (attention_mask[:, -1] == 1).all()  # left-padded
        outs = [self.tokenizer(self.answers.pop(0), add_special_tokens=False)["input_ids"]
                [:max_new_tokens] for _ in range(len(input_ids))]
        width = max(len(o) for o in outs)
        new = torch.full((len(outs), width), pad_token_id, dtype=torch.long)
        for i, o in enumerate(outs):
            new[i, :len(o)] = torch.tensor(o, dtype=torch.long)
        return torch.cat([input_ids, new], dim=1)


def test_duplicates_exclusions_and_bad_answers_are_counted_not_kept(tiny_judge_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_judge_dir)
    items = [Item(f"p{i}", f"Product {i}") for i in range(6)]
    answers = ["blue yoga mat", "Blue  Yoga Mat", "iphone case", "lamp", "kids rain boots",
               "I cannot help with that request because it is unclear"]
    model = _ScriptedLM(tokenizer, answers)
    kept, stats = generate_keyphrases(model, tokenizer, items, exclude=["IPHONE case"],
                                      batch_size=4)
    assert [(k.item_id, k.text) for k in kept] == [("p0", "blue yoga mat"),
                                                   ("p4", "kids rain boots")]
    assert stats.to_dict() == {"items": 6, "kept": 2, "dropped": {
        "duplicate": 1, "excluded": 1, "length": 2}}


def test_a_real_model_generates_through_its_chat_template(tiny_judge_dir):
    """A tiny random Llama: real left-padded batched generate(); whatever it says is either a
    clean keyphrase or dropped with a reason, one outcome per item."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_judge_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_judge_dir).eval()
    items = [Item("a", "Wireless earbuds with charging case", brand="Sony"),
             Item("b", "Kids rain boots"), Item("c", "Stainless steel water bottle")]
    assert "Kids rain boots" in render(tokenizer, items[1])
    kept, stats = generate_keyphrases(model, tokenizer, items, batch_size=2, max_new_tokens=6)
    assert stats.items == 3 and stats.kept + sum(stats.dropped.values()) == 3
    for k in kept:
        assert clean_answer(k.text) == (k.text, "")
    with pytest.raises(ValueError):
        generate_keyphrases(model, tokenizer, items, batch_size=0)
