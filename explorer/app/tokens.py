"""Token-id inputs shown as the one-hot vectors they stand for (no Qt).

Text datasets feed the engine int64 token ids (B, T); the engine's trace keeps them as given
(``trace.x`` ids, ``trace.tokens``). Views that draw an input vector — the diagram's x_t, the
equations' W x with the column a token picks, the diagram's CSV — take the display trace from
:func:`one_hot_trace`, which is the same trace with layer 0's ``x`` as one-hot rows (B, T, V):
one sample's T × V floats, never the whole dataset's.
"""

from __future__ import annotations

import numpy as np

from explorer.engine.model import Trace


def one_hot_trace(trace: Trace | None, vocab_size: int) -> Trace | None:
    """``trace`` with token-id inputs replaced by one-hot rows over ``vocab_size``; a trace with
    float inputs (or None) is returned as it is."""
    if trace is None or getattr(trace, "tokens", None) is None:
        return trace
    ids = np.asarray(trace.tokens, dtype=np.int64)
    x = np.zeros(ids.shape + (int(vocab_size),))
    np.put_along_axis(x, ids[..., None], 1.0, axis=-1)
    layers = []
    for k in range(trace.num_layers):
        row = []
        for d in range(trace.num_directions):
            sub = trace.layer(k, d)
            fields = {name: getattr(sub, name) for name in sub.fields if name != "y"}
            if k == 0:
                fields["x"] = x
            row.append(fields)
        layers.append(row)
    fields = {**layers[trace.layer_index][trace.direction], "y": trace.y}
    return Trace(trace.kind, fields, layers, trace.layer_index, trace.direction, trace.tokens)


__all__ = ["one_hot_trace"]
