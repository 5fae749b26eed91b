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

    def pixel_sums(self, t: int, channel: int, layer: int, y: int, x: int) -> dict:
        """The convolution sums behind pixel (``y``, ``x``) of ``channel`` at step ``t``:
        ``{gate: (W_x ∗ x_t, W_h ∗ h_{t−1}, b, peephole term, z, activated)}`` for i, f, g, o —
        computed here from the weights and the k×k windows (the receptive field, ``"window"``:
        (y0, x0, y1, x1) on the frame, clipped) — and ``c_prev``, ``c``, ``h``. ``z`` equals the
        trace's pre-activation: the activated value is the trace's gate."""
        m, tr = self.model, self.trace.layer(layer)
        k, F = m.kernel, m.n_units
        p = k // 2
        sd = m.state_dict()
        wx, wh = sd[f"weight_ih_l{layer}"], sd[f"weight_hh_l{layer}"]
        b = sd[f"bias_ih_l{layer}"] + sd[f"bias_hh_l{layer}"]
        xin = tr.x[0, t]
        h_prev = tr.h0[0] if t == 0 else tr.h[t - 1, 0]
        c_prev = tr.c0[0] if t == 0 else tr.c[t - 1, 0]
        xw = np.pad(xin, ((0, 0), (p, p), (p, p)))[:, y:y + k, x:x + k]
        hw = np.pad(h_prev, ((0, 0), (p, p), (p, p)))[:, y:y + k, x:x + k]
        c = float(tr.c[t, 0, channel, y, x])
        out = {"c_prev": float(c_prev[channel, y, x]), "c": c, "h": float(tr.h[t, 0, channel, y, x])}
        H, W = xin.shape[1:]
        out["window"] = (max(0, y - p), max(0, x - p), min(H, y + p + 1), min(W, x + p + 1))
        for j, gate in enumerate(("i", "f", "g", "o")):
            r = j * F + channel
            sx, sh = float(np.sum(wx[r] * xw)), float(np.sum(wh[r] * hw))
            peep = 0.0
            if m.peephole and gate != "g":
                cell = c if gate == "o" else out["c_prev"]
                peep = float(sd[f"peephole_{gate}_l{layer}"][channel, y, x]) * cell
            z = sx + sh + float(b[r]) + peep
            value = float(np.tanh(z)) if gate == "g" else float(0.5 * (1.0 + np.tanh(0.5 * z)))
            out[gate] = (sx, sh, float(b[r]), peep, z, value)
        return out

    def pixel_lines(self, t: int, channel: int, layer: int, y: int, x: int) -> list[str]:
        """The gate equations of one pixel with the real numbers of :meth:`pixel_sums`, plain text."""
        s = self.pixel_sums(t, channel, layer, y, x)
        y0, x0, y1, x1 = s["window"]
        lines = [f"pixel (row {y + 1}, column {x + 1}) of channel {channel + 1}, layer {layer + 1}, step {t + 1}; "
                 f"receptive field rows {y0 + 1}–{y1}, columns {x0 + 1}–{x1} of x(t) and h(t−1)"]
        for gate in ("i", "f", "g", "o"):
            sx, sh, b, peep, z, v = s[gate]
            act = "tanh" if gate == "g" else "σ"
            extra = f" + p⊙c {peep:.4g}" if self.model.peephole and gate != "g" else ""
            lines.append(f"{gate} = {act}(W_x∗x {sx:.4g} + W_h∗h {sh:.4g} + b {b:.4g}{extra}) = {act}({z:.4g}) = {v:.4g}")
        i, f, g, o = (s[n][5] for n in ("i", "f", "g", "o"))
        lines.append(f"c = f·c(t−1) + i·g = {f:.4g}×{s['c_prev']:.4g} + {i:.4g}×{g:.4g} = {s['c']:.4g}")
        lines.append(f"h = o·tanh(c) = {o:.4g}×{np.tanh(s['c']):.4g} = {s['h']:.4g}")
        return lines

    PIXEL_COLUMNS = ("step", "x", "prediction", "truth", "c_prev", "conv_x_i", "conv_h_i", "i", "conv_x_f", "conv_h_f",
                     "f", "conv_x_g", "conv_h_g", "g", "conv_x_o", "conv_h_o", "o", "c", "h")

    def pixel_rows(self, channel: int, layer: int, y: int, x: int) -> list[tuple]:
        """One row per step (1-based) of :data:`PIXEL_COLUMNS` for pixel (``y``, ``x``): the input,
        the prediction and the true next frame there (channel 1; truth NaN without a target), and
        the channel's c(t−1), its convolution sums and gates, c and h."""
        rows = []
        for t in range(self.T):
            s = self.pixel_sums(t, channel, layer, y, x)
            truth = float("nan") if self.target is None else float(self.target[0, t, 0, y, x])
            row = [t + 1, float(self.trace.x[0, t, 0, y, x]), float(self.prediction[t, 0, y, x]), truth, s["c_prev"]]
            for gate in ("i", "f", "g", "o"):
                row += [s[gate][0], s[gate][1], s[gate][5]]
            rows.append(tuple(row + [s["c"], s["h"]]))
        return rows

    def write_pixel_csv(self, path, channel: int, layer: int, y: int, x: int) -> None:
        """:meth:`pixel_rows` as a CSV file (a header row, then one row per step, full precision)."""
        lines = [",".join(self.PIXEL_COLUMNS)]
        lines += [",".join(str(v) if isinstance(v, int) else repr(float(v)) for v in row)
                  for row in self.pixel_rows(channel, layer, y, x)]
        with open(path, "w", encoding="utf-8", newline="") as fh:
            fh.write("\n".join(lines) + "\n")

    def state_range(self, layer: int = 0) -> float:
        """The largest |c| of ``layer`` over every step and channel (the colour scale of the cell
        state, fixed while stepping through time); 1 when all are 0."""
        m = float(np.abs(self.trace.layer(layer).c).max())
        return m if m > 0 else 1.0


__all__ = ["ConvLSTMView", "ConvLSTMImages", "STATE_NAMES"]
