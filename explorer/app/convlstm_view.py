"""What the ConvLSTM picture shows at one place (no Qt): the input frame, the prediction and the true
next frame, and every gate and state of one channel as a small image.

:class:`ConvLSTMView` runs the model once over one sample and keeps its trace; :meth:`ConvLSTMView.at`
gives the images of a (step, channel, layer) as a :class:`ConvLSTMImages` — slices of the trace the
engine computed, never recomputed, so the belt's equation c_t = f ⊙ c_{t−1} + i ⊙ g holds on them
pixel by pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The images of the belt and the gates, in the order the picture draws them.
STATE_NAMES = ("c_prev", "f", "i", "g", "c", "o", "tanh_c", "h")


@dataclass(frozen=True)
class ConvLSTMImages:
    """(H, W) arrays of one step, channel and layer. ``x`` is the input's channel ``in_channel``
    at step t, ``prediction`` the model's next frame (sigmoid of the output for ``bce``),
    ``truth`` the true next frame (None without a target), and the gates and states of channel
    ``channel``: ``c_prev`` (c_{t−1}), ``f``, ``i``, ``g``, ``c``, ``o``, ``tanh_c``, ``h``."""

    t: int
    channel: int
    layer: int
    x: np.ndarray
    prediction: np.ndarray
    truth: np.ndarray | None
    c_prev: np.ndarray
    f: np.ndarray
    i: np.ndarray
    g: np.ndarray
    c: np.ndarray
    o: np.ndarray
    tanh_c: np.ndarray
    h: np.ndarray


class ConvLSTMView:
    """The trace of ``model`` over sample ``x`` (1, T, C, H, W) and its ``target`` (1, T, C_out,
    H, W, or None); ``loss`` says how an output reads as a frame (``"bce"``: sigmoid)."""

    def __init__(self, model, x: np.ndarray, target: np.ndarray | None = None, loss: str = "mse"):
        self.model = model
        self.trace = model.forward(np.asarray(x)[:1])
        self.target = None if target is None else np.asarray(target, dtype=np.float64)[:1]
        self.loss = loss
        y = self.trace.y[0]
        self.prediction = 0.5 * (1.0 + np.tanh(0.5 * y)) if loss == "bce" else y

    @property
    def T(self) -> int:
        return self.trace.T

    @property
    def channels(self) -> int:
        return int(self.trace.h.shape[2])

    @property
    def num_layers(self) -> int:
        return self.trace.num_layers

    def at(self, t: int, channel: int = 0, layer: int = 0, in_channel: int = 0, out_channel: int = 0) -> ConvLSTMImages:
        """The images at step ``t`` (0-based) of ``channel`` in ``layer``."""
        if not 0 <= t < self.T:
            raise IndexError(f"step {t} outside 0..{self.T - 1}")
        if not 0 <= channel < self.channels:
            raise IndexError(f"channel {channel} outside 0..{self.channels - 1}")
        tr = self.trace.layer(layer)
        c_prev = tr.c0[0, channel] if t == 0 else tr.c[t - 1, 0, channel]
        c = tr.c[t, 0, channel]
        return ConvLSTMImages(
            t=t, channel=channel, layer=layer, x=self.trace.x[0, t, in_channel],
            prediction=self.prediction[t, out_channel],
            truth=None if self.target is None else self.target[0, t, out_channel],
            c_prev=c_prev, f=tr.f[t, 0, channel], i=tr.i[t, 0, channel], g=tr.g[t, 0, channel], c=c,
            o=tr.o[t, 0, channel], tanh_c=np.tanh(c), h=tr.h[t, 0, channel])

    def state_range(self, layer: int = 0) -> float:
        """The largest |c| of ``layer`` over every step and channel (the colour scale of the cell
        state, fixed while stepping through time); 1 when all are 0."""
        m = float(np.abs(self.trace.layer(layer).c).max())
        return m if m > 0 else 1.0


__all__ = ["ConvLSTMView", "ConvLSTMImages", "STATE_NAMES"]
