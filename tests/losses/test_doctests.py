"""The ``>>>`` examples in the loss docstrings run, and hold."""

import doctest
import importlib
import pkgutil

import pytest

import components.losses

MODULES = sorted(m.name for m in pkgutil.iter_modules(components.losses.__path__,
                                                      "components.losses."))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_hold(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_every_loss_has_an_example():
    with_examples = {name for name in MODULES
                     if doctest.DocTestFinder().find(importlib.import_module(name))
                     and any(t.examples for t in
                             doctest.DocTestFinder().find(importlib.import_module(name)))}
    assert {"components.losses.contrastive", "components.losses.judge_bce",
            "components.losses.listwise_kl", "components.losses.margin_mse",
            "components.losses.matryoshka", "components.losses.pearson"} <= with_examples
