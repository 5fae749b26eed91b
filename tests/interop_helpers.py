"""Shared by the interop tests: whether the engine runs deep and bidirectional models yet."""

import pytest

from explorer.engine import make_model

DEEP_REASON = ("needs the engine's deep and bidirectional models (make_model(num_layers=, bidirectional=), "
               "branch engine, not merged yet)")


def engine_is_deep() -> bool:
    try:
        make_model("lstm", n_inputs=1, n_units=2, n_outputs=1, num_layers=2, bidirectional=True)
    except TypeError:
        return False
    return True


needs_deep_engine = pytest.mark.skipif(not engine_is_deep(), reason=DEEP_REASON)
