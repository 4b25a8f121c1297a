"""The Examples sections of the package's docstrings run and give what they show."""
import doctest
import importlib
import pkgutil

import pytest

import unetvocalsep

MODULES = sorted(m.name for m in pkgutil.walk_packages(unetvocalsep.__path__, "unetvocalsep.")
                 if not m.name.endswith("__main__"))


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    try:
        mod = importlib.import_module(name)
    except ImportError as exc:       # an optional extra that is not installed
        pytest.skip(f"{name}: {exc}")
    res = doctest.testmod(mod, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
                          report=True, verbose=False)
    assert res.failed == 0, f"{res.failed} of {res.attempted} examples failed in {name}"


def test_public_functions_have_examples():
    """The functions a notebook user calls first show how to call them."""
    from unetvocalsep import masking, separate
    from unetvocalsep.synth import production
    for f in (separate.separate_audio, separate.separate_file, masking.compute_mask,
              production.limiter_gain):
        mod = importlib.import_module(f.__module__)
        text = (f.__doc__ or "") + (mod.__doc__ or "")
        assert ">>> " in text, f.__qualname__
