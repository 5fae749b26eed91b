"""Where one layer and direction of a deep or bidirectional model sits (no Qt): what its input is,
where its h_t goes, which way its time runs, and how the person reads its name.

The window (diagram, equations, heatmaps) and the files drawn from a trace (the animation) write
the same words from one :class:`LayerPlace` (subscripts written ``h_t``, ``h_{t+1}``, as
:func:`explorer.app.cell_view.formula_parts` reads them). Layers are numbered 1..L wherever a person reads
them (as timesteps are 1..T; the engine's index k and torch's names ``…_l{k}`` stay 0-based).

>>> p = LayerPlace(layer=1, direction=1, num_layers=2, num_directions=2, n_units=8, T=20)
>>> p.name
'layer 2 of 2 · reverse'
>>> p.input_text
'h_t of layer 1 (both directions, 16 values)'
>>> p.output_text
'to the head y_t (with the forward h_t) and to step t−1'
>>> p.prev_sub(19), p.prev_sub(3)
('0', 't+1')
"""

from __future__ import annotations

from dataclasses import dataclass

MINUS = "\u2212"
DIRECTIONS = ("forward", "reverse")


@dataclass(frozen=True)
class LayerPlace:
    """Layer ``layer`` (0-based) and direction ``direction`` (0 forward, 1 reverse) of a model
    with ``num_layers`` layers, ``num_directions`` directions and ``n_units`` units per
    direction, over ``T`` timesteps."""

    layer: int = 0
    direction: int = 0
    num_layers: int = 1
    num_directions: int = 1
    n_units: int = 1
    T: int = 1

    @classmethod
    def of(cls, trace, layer: int = 0, direction: int = 0) -> LayerPlace:
        """The place of ``layer``/``direction`` in the whole model's ``trace`` (any Trace)."""
        return cls(int(layer), int(direction), int(getattr(trace, "num_layers", 1)),
                   int(getattr(trace, "num_directions", 1)), int(trace.h.shape[-1]), int(trace.T))

    # -- names --------------------------------------------------------------------------------------
    @property
    def stacked(self) -> bool:
        """More than one layer or direction (else nothing about the place is worth saying)."""
        return self.num_layers > 1 or self.num_directions > 1

    @property
    def reverse(self) -> bool:
        return self.direction == 1

    @property
    def direction_name(self) -> str:
        return DIRECTIONS[1 if self.reverse else 0]

    @property
    def name(self) -> str:
        """"layer 2 of 2 · reverse" (only the parts the model has; "" for one layer, one direction)."""
        parts = []
        if self.num_layers > 1:
            parts.append(f"layer {self.layer + 1} of {self.num_layers}")
        if self.num_directions > 1:
            parts.append(self.direction_name)
        return " \u00b7 ".join(parts)

    @property
    def weight_suffix(self) -> str:
        """torch's suffix of this layer's weights: ``_l1_reverse``."""
        return f"_l{self.layer}" + ("_reverse" if self.reverse else "")

    # -- where the values come from and go --------------------------------------------------------
    @property
    def input_size(self) -> int | None:
        """How many values x_t holds for a deeper layer (D·n); None for the first layer (the data's)."""
        return self.num_directions * self.n_units if self.layer > 0 else None

    @property
    def input_text(self) -> str:
        """What x_t of this layer is: the data's input, or the outputs of the layer below."""
        if self.layer == 0:
            return "x_t, the input"
        both = f"both directions, {self.input_size} values" if self.num_directions > 1 else f"{self.n_units} values"
        return f"h_t of layer {self.layer} ({both})"

    @property
    def next_step(self) -> str:
        """The step that reads this h_t back: t+1, or t−1 in the reverse direction."""
        return f"t{MINUS}1" if self.reverse else "t+1"

    @property
    def output_text(self) -> str:
        """Where h_t goes: the layer above (both its directions) or the head, and the next step."""
        if self.layer + 1 < self.num_layers:
            above = "both directions of " if self.num_directions > 1 else ""
            to = f"to {above}layer {self.layer + 2}"
        elif self.num_directions > 1:
            other = DIRECTIONS[0 if self.reverse else 1]
            to = f"to the head y_t (with the {other} h_t)"
        else:
            to = "to the head y_t"
        return f"{to} and to step {self.next_step}"

    @property
    def time_text(self) -> str:
        """Which way this direction's time runs (said only for a bidirectional model)."""
        if self.num_directions < 2:
            return ""
        if self.reverse:
            return f"reverse: runs from t = {self.T} down to 1; its previous state is h_{{t+1}}"
        return f"forward: runs from t = 1 up to {self.T}; its previous state is h_{{t{MINUS}1}}"

    # -- the previous state ---------------------------------------------------------------------------
    def first(self, t: int) -> bool:
        """Whether timestep ``t`` (0-based) is this direction's first (its previous state is h0)."""
        return int(t) == (self.T - 1 if self.reverse else 0)

    def prev_sub(self, t: int) -> str:
        """The subscript of the previous state at timestep ``t``: "0" (the initial state), "t−1",
        or "t+1" in the reverse direction."""
        if self.first(t):
            return "0"
        return "t+1" if self.reverse else f"t{MINUS}1"
