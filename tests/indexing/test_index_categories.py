from components.data import Item, Judgment, Keyphrase
from components.indexing.categories import keyphrase_categories, top_level_category


def test_top_level_category_takes_the_first_segment():
    assert top_level_category("Home & Kitchen > Furniture > Beds") == "Home & Kitchen"
    assert top_level_category("Electronics") == "Electronics"
    assert top_level_category("") == ""


def test_keyphrase_category_is_the_majority_of_its_judged_items_and_sources_fall_back():
    items = {
        "a": Item("a", "t", category="Home & Kitchen > Beds"),
        "b": Item("b", "t", category="Home & Kitchen > Lamps"),
        "c": Item("c", "t", category="Electronics > Lamps"),
        "d": Item("d", "t", category=""),
    }
    judgments = [Judgment("1", "lamp", i, g) for i, g in
                 [("a", "E"), ("b", "I"), ("c", "E"), ("d", "E")]]
    universe = [Keyphrase("esci:1", "lamp", "lamp", "esci"),
                Keyphrase("esci:9", "unjudged", "unjudged", "esci"),
                Keyphrase("wands:3", "sofa", "sofa", "wands", "Sofas")]
    got = keyphrase_categories(universe, judgments, items, {"wands": "Home & Kitchen"})
    assert got == {"esci:1": "Home & Kitchen", "esci:9": "", "wands:3": "Home & Kitchen"}


def test_category_ties_are_broken_by_name_not_input_order():
    items = {"a": Item("a", "t", category="Toys"), "b": Item("b", "t", category="Books")}
    universe = [Keyphrase("esci:1", "x", "x", "esci")]
    for order in (["a", "b"], ["b", "a"]):
        judgments = [Judgment("1", "x", i, "E") for i in order]
        assert keyphrase_categories(universe, judgments, items)["esci:1"] == "Books"
