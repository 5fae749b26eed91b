"""A held value or a set weight is a finite number: NaN and infinities are refused in one sentence
(they would spread through every later step and the loss, silently), in the engine and the window."""

import math

import numpy as np
import pytest

from explorer.engine import Clamp, SetWeight, make_model


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "x", None])
def test_a_clamp_or_weight_that_is_not_finite_is_refused(bad):
    with pytest.raises(ValueError) as err:
        Clamp("f", bad, units=[0])
    assert str(err.value) == f"f cannot be held at {bad!r}: the value must be a finite number."
    with pytest.raises(ValueError) as err:
        SetWeight("weight_hh_l0", (0, 0), bad)
    assert str(err.value) == f"weight_hh_l0 cannot be set to {bad!r}: the value must be a finite number."


def test_finite_values_still_act():
    model = make_model("lstm", 1, 3, 1, seed=0)
    x = np.random.default_rng(0).standard_normal((1, 5, 1))
    held = model.forward(x, interventions=[Clamp("o", 0.0, units=[1])])
    assert np.all(held.h[0, :, 1] == 0.0) and np.any(held.h[0, :, 0] != 0.0)
    assert Clamp("h", np.float32(2.5)).value == np.float32(2.5)


def test_the_window_says_so_and_holds_nothing(qtbot, qsettings, app_paths):
    from explorer.data.examples import load_example
    from explorer.gui.main_window import MainWindow
    from explorer.runs.store import Run, settings_for_example

    win = MainWindow(settings=qsettings)
    win.set_run(Run(load_example("sine"), settings_for_example("sine", units=3, epochs=1)))
    qtbot.addWidget(win, before_close_func=lambda w: (w.close(), w.after_close()))
    win.interventions.hold("f", math.nan)
    assert win.session.interventions == []
    assert win.banner.label.text() == "f cannot be held at nan: the value must be a finite number."
    win.interventions.hold("f", 0.25)
    assert [(iv.name, iv.value) for iv in win.session.interventions] == [("f", 0.25)]
