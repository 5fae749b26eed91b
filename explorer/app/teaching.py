"""The teaching instruments' work, without Qt: what an intervention does to the shown sample and
to the predictions, the gradients of the backward mode, a replayed epoch's trace.

Everything here is a plain function over a run, a set of weights and a sample; the window calls
them directly for a small model (a few milliseconds) or through a
:class:`~explorer.app.tasks.TaskState` on a worker (``*_task``) for a large one. None of them
touches the run's own model (the training model is not thread-safe): each works on a copy.

>>> iv = Clamp("f", 1.0, units=[3], steps=range(9, 20))
>>> intervention_text(iv)
'f held at 1 · unit 3 · t = 10…20'
>>> cmp = intervention_effect_task(TaskState(), run, run.model.state_dict(), 0, [iv])
>>> cmp.loss_without, cmp.loss_with          # validation loss without and with it
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from explorer.engine import Clamp, SetWeight

from .edit import edited_pair
from .source import Source
from .tasks import TaskState, _Interruptible, clone_model, sample_of

__all__ = ["DIRECT_BUDGET", "InterventionEffect", "backward_grads", "clamp_names", "continuing", "grad_norms_of",
           "held_at", "intervention_effect_task", "intervention_text", "is_small", "shown_trace", "steps_text"]

#: Work below this many multiply-adds (one sample's pass) is done at once on the GUI thread
#: (well under 16 ms); more goes to a worker.
DIRECT_BUDGET = 2.0e6


def clamp_names(model) -> tuple:
    """What an intervention may hold in layer 0 of ``model``: its cell's gates and ``"h"``."""
    return tuple(model.cells[0][0].clamp_names)


def _ints(spec) -> list:
    """An int, a range or a list of ints as a sorted list."""
    return sorted(int(v) for v in ([spec] if isinstance(spec, (int, np.integer)) else list(spec)))


def steps_text(steps) -> str:
    """0-based steps as a person reads them (1-based): 't = 10…20', 't = 4', 'every step'."""
    if steps is None:
        return "every step"
    s = _ints(steps)
    if not s:
        return "no step"
    if len(s) == 1:
        return f"t = {s[0] + 1}"
    if s == list(range(s[0], s[-1] + 1)):
        return f"t = {s[0] + 1}\u2026{s[-1] + 1}"
    return "t = " + ", ".join(str(v + 1) for v in s)


def _units_text(units) -> str:
    if units is None:
        return "every unit"
    u = _ints(units)
    return f"unit {u[0]}" if len(u) == 1 else "units " + ", ".join(str(v) for v in u)


def intervention_text(iv) -> str:
    """One line naming an intervention (steps 1-based, as everywhere a person reads them)."""
    if isinstance(iv, Clamp):
        what = "h zeroed" if iv.name == "h" and iv.value == 0 else f"{iv.name} held at {iv.value:g}"
        parts = [what, _units_text(iv.units), steps_text(iv.steps)]
        if iv.layer:
            parts.append(f"layer {iv.layer}")
        if iv.direction:
            parts.append("reverse")
        return " \u00b7 ".join(parts)
    if isinstance(iv, SetWeight):
        idx = ", ".join(str(int(v)) for v in np.atleast_1d(iv.index))
        return f"{iv.key}[{idx}] set to {iv.value:g}"
    return repr(iv)


def held_at(interventions, layer: int, direction: int, unit: int, t: int) -> dict:
    """What ``interventions`` hold for ``unit`` at step ``t`` (0-based) of one layer and direction:
    {gate or "h": value} (of two clamps of one name, the later, as the engine applies them in order)."""
    out = {}
    for iv in interventions or ():
        if not isinstance(iv, Clamp) or iv.layer != layer or iv.direction != direction:
            continue
        if iv.units is not None and int(unit) not in _ints(iv.units):
            continue
        if iv.steps is not None and int(t) not in _ints(iv.steps):
            continue
        out[iv.name] = float(iv.value)
    return out


def continuing(interventions) -> list:
    """The interventions that go on after the sample (a free-running forecast's later steps):
    clamps of every step and weight changes; a clamp limited to some steps of the sample ends there."""
    return [iv for iv in interventions if not (isinstance(iv, Clamp) and iv.steps is not None)]


def is_small(run, budget: float = DIRECT_BUDGET) -> bool:
    """Whether one sample's forward and backward pass of ``run`` is cheap enough for the GUI thread."""
    m = run.model
    ds = run.dataset
    T = int(ds.seq_len) if ds.seq_len else int(sample_of(ds, 0)[0].shape[1])
    n, k = int(m.n_units), int(m.n_inputs)
    LD = int(m.num_layers) * int(m.num_directions)
    gates = {"rnn": 1, "gru": 3}.get(m.kind, 4)
    work = 3 * T * LD * gates * n * (n + min(k, n) + 1)
    return work <= budget and T * LD <= 2000


def shown_trace(run, weights, sample: int, interventions=(), interrupt=None):
    """The trace (batch 1) of ``sample`` under ``weights`` with ``interventions`` held: what the
    diagram, the equations and the heatmaps show."""
    model = clone_model(run.model, weights)
    x, _ = sample_of(run.dataset, sample)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return model.forward(x, interventions=list(interventions) or None, interrupt=interrupt)


def backward_grads(run, weights, sample: int, interventions=(), interrupt=None, edit=None):
    """``model.state_grads`` of ``sample`` (its input as edited: ``edit``, an
    :class:`~explorer.app.source.Edit`) under ``weights`` (and the interventions): the gradients
    the backward mode shows for the trace :func:`shown_trace` gives."""
    model = clone_model(run.model, weights)
    x, y = edited_pair(run.dataset, Source(sample, edit=edit))
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        return model.state_grads(x, y, loss=run.dataset.loss, interventions=list(interventions) or None,
                                 interrupt=interrupt)


def grad_norms_of(grads) -> tuple:
    """(dh, dc) through time, (T,) each (dc None without a belt of c), of ``model.state_grads``:
    the Frobenius norm over batch, units and both directions of layer 0 — what
    :class:`~explorer.engine.GradNorms` gives for the same pass (the "Through time" plot)."""
    per = grads.layers[0] if grads.layers else ((grads.dh, grads.dc),)

    def norm(arrs):
        return np.sqrt(sum(np.sum(np.square(a), axis=(0, 2)) for a in arrs))

    dh = norm([d[0] for d in per])
    dc = None if per[0][1] is None else norm([d[1] for d in per])
    return dh, dc


class _Intervened:
    """A model whose passes hold ``interventions`` (a sample's length: all of them; other lengths,
    the forecast's single steps: :func:`continuing`). Everything else is the model's own."""

    def __init__(self, model, interventions, T: int):
        self._model, self._ivs, self._T = model, list(interventions), int(T)
        self._later = continuing(self._ivs)

    def __getattr__(self, name):
        return getattr(self._model, name)

    def _for(self, x):
        return (self._ivs if np.shape(x)[1] == self._T else self._later) or None

    def forward(self, x, h0=None, c0=None, **kw):
        kw.setdefault("interventions", self._for(x))
        return self._model.forward(x, h0, c0, **kw)

    def predict(self, x, h0=None, c0=None, **kw):
        kw.setdefault("interventions", self._for(x))
        return self._model.predict(x, h0, c0, **kw)


@dataclass
class InterventionEffect:
    """The effect of interventions: the loss over the validation part (else the training part)
    without and with them (in the target's units, as every loss on screen), the run's predictions
    with them (``Run.predictions``: one step ahead and a free-running forecast; those without are
    the predictions the plot already shows), and the selected
    sample's output at every step both ways (``sample_t`` 1..T; regression: y in the target's
    units; classification: the probability of the right class)."""

    sample: int
    interventions: tuple
    part: str = "validation"
    loss_without: float = float("nan")
    loss_with: float = float("nan")
    predictions_with: dict = field(default_factory=dict)
    sample_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sample_without: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sample_with: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sample_target: np.ndarray = field(default_factory=lambda: np.zeros(0))
    sample_target_t: np.ndarray = field(default_factory=lambda: np.zeros(0))
    quantity: str = "output"

    def loss_text(self) -> str:
        """'validation loss 0.0123 without · 0.456 with (37× as large)'."""
        a, b = self.loss_without, self.loss_with
        if not (np.isfinite(a) and np.isfinite(b)):
            return ""
        ratio = ""
        if a > 0:
            r = b / a
            ratio = f" ({r:.3g}\u00d7 as large)" if r >= 1.0005 else f" ({r:.3g}\u00d7)" if r <= 0.9995 else " (the same)"
        return f"{self.part} loss {a:.4g} without \u00b7 {b:.4g} with{ratio}"


def _sample_outputs(ds, y, target):
    """(t 1..T, values per step, target values, target steps, what the values are) of one sample."""
    T = y.shape[1]
    t = np.arange(1, T + 1)
    if ds.loss == "cross_entropy":
        from explorer.engine import softmax

        target = np.asarray(target)
        p = softmax(y[0])                                        # (T, V)
        if target.ndim == 2:                                     # a class at every step
            vals = p[np.arange(T), target[0]]
            return t, vals, np.ones(T), t, "p(right class)"
        vals = p[:, int(target[0])]
        return t, vals, np.ones(1), t[-1:], "p(right class)"
    out = y[0, :, 0]
    tgt = np.asarray(target, dtype=float)
    tgt = tgt[0, -1:, 0] if tgt.ndim == 3 and ds.target_last else (
        tgt[0, :, 0] if tgt.ndim == 3 else tgt[0, :1])
    tt = t[-len(tgt):] if len(tgt) <= T else t
    norm = ds.normalizer
    if ds.kind == "series" and norm is not None:
        ti = ds.target_index
        out = norm.inverse(out, column=ti)
        tgt = norm.inverse(tgt, column=ti)
    return t, np.asarray(out, float), np.asarray(tgt, float), tt, "output y"


def intervention_effect_task(state: TaskState, run, weights, sample: int, interventions, *, forecast: int = 100,
                             y_with=None, y_without=None, pair=None) -> InterventionEffect:
    """Losses, predictions and the sample's outputs without and with ``interventions`` (on copies
    of the model holding ``weights``); interruptible, with progress. For a series, the free-running
    forecast keeps the clamps of every step (a clamp limited to some steps ends with the sample).
    ``y_with`` / ``y_without``: the sample's outputs with and without, when a trace already has them;
    ``pair``: the sample's input and target when they are not the dataset's (an edited input)."""
    ivs = list(interventions)
    ds = run.dataset
    plain = clone_model(run.model, weights)
    xs, ys, part = (ds.x_val, ds.y_val, "validation") if ds.n_val else (ds.x_train, ds.y_train, "training")
    T = int(xs.shape[1])
    held = _Intervened(plain, ivs, T)
    out = InterventionEffect(sample=int(sample), interventions=tuple(ivs), part=part)
    scale = ds.target_scale ** 2 if ds.loss == "mse" else 1.0
    interrupt = state.is_interruption_requested
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        x, y = sample_of(ds, sample) if pair is None else pair
        state.set_progress(0.0, "Comparing with the intervention")
        y0 = plain.forward(x, interrupt=interrupt).y if y_without is None else y_without
        y1 = plain.forward(x, interventions=ivs or None, interrupt=interrupt).y if y_with is None else y_with
        t, a, tgt, tt, what = _sample_outputs(ds, y0, y)
        _, b, _, _, _ = _sample_outputs(ds, y1, y)
        out.sample_t, out.sample_without, out.sample_with = t, a, b
        out.sample_target, out.sample_target_t, out.quantity = tgt, tt, what
        state.check()
        out.loss_without = float(plain.evaluate(xs, ys, ds.loss, interrupt=interrupt)) * scale
        state.set_progress(0.2, "Comparing with the intervention")
        out.loss_with = float(plain.evaluate(xs, ys, ds.loss, interventions=ivs or None, interrupt=interrupt)) * scale
        state.set_progress(0.4, "Comparing with the intervention")
        if ds.kind != "text":
            n = min(forecast, ds.n_val) if ds.kind == "series" else 0
            view = copy.copy(run)
            view.model = _Interruptible(held, state, span=(0.4, 1.0))
            out.predictions_with = view.predictions(forecast=n)
    state.set_progress(1.0, "")
    return out
