"""Models that live in a Python session, mapped onto the engine without a file.

:func:`loaded_from_object` takes what a script holds — a ``torch.nn.LSTM`` / ``GRU`` / ``RNN``
module (with an optional head module, e.g. ``torch.nn.Linear``), a state dict (names → tensors or
arrays, torch's names), or one of the engine's own models — and gives the same
:class:`~explorer.interop.mapping.LoadedModel` a model file gives. torch is never imported: a
module is read through its ``state_dict()`` and tensors through ``detach().cpu().numpy()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from explorer.engine import RecurrentModel

from .errors import ModelFileError
from .mapping import LoadedModel, TensorInfo, TensorSource, load_torch_named

def _array(value, key: str) -> np.ndarray:
    if hasattr(value, "detach"):                    # a torch tensor (any device, any dtype)
        value = value.detach().cpu()
        if str(getattr(value, "dtype", "")) == "torch.bfloat16":
            value = value.float()
        value = value.numpy()
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError):
        raise ModelFileError(f"The state dict's {key} is not an array of numbers; give tensors or "
                             "NumPy arrays.") from None
    if arr.dtype.kind not in "fiu":
        raise ModelFileError(f"The state dict's {key} holds {arr.dtype} values; give float weights.")
    return arr


def _state_dict(obj, what: str) -> dict:
    if isinstance(obj, Mapping):
        return dict(obj)
    sd = getattr(obj, "state_dict", None)
    if callable(sd):
        return dict(sd())
    raise ModelFileError(f"The {what} is a {type(obj).__name__}; give a torch.nn.LSTM, GRU or RNN "
                         "module, a state dict, or an engine model.")


def loaded_from_object(model, head=None, n_outputs: int = 1, seed: int = 0) -> LoadedModel:
    """A :class:`LoadedModel` of ``model`` (a torch recurrent module, a state dict or an engine
    model) with ``head`` (a module or state dict with ``weight`` (k, D·n) and ``bias``) as its
    head; without one the state dict's own head is used, else a new one with ``n_outputs``."""
    if isinstance(model, RecurrentModel):
        if head is not None:
            raise ModelFileError("An engine model carries its own head; give head=None.")
        return LoadedModel(model=model, path=Path(f"engine {model.kind}"), format="engine", prefix="",
                           head="head")
    name = type(model).__name__
    if getattr(model, "nonlinearity", "tanh") != "tanh":
        raise ModelFileError(f"The {name} uses the {model.nonlinearity} nonlinearity; the explorer's RNN "
                             "is tanh (torch's default).")
    if int(getattr(model, "proj_size", 0) or 0) > 0:
        raise ModelFileError(f"The {name} has proj_size = {model.proj_size}; the explorer's LSTM has no "
                             "projection, so give one made with proj_size=0.")
    tensors = {str(k): _array(v, str(k)) for k, v in _state_dict(model, "model").items()}
    if head is not None:
        for k, v in _state_dict(head, "head").items():
            tensors[f"head.{k}"] = _array(v, f"head.{k}")
    src = TensorSource(f"The {name}", {k: TensorInfo(tuple(a.shape), str(a.dtype)) for k, a in tensors.items()},
                       tensors.__getitem__)
    meta = {"head": "head"} if head is not None else None
    return load_torch_named(src, Path(f"torch {name}" if not isinstance(model, Mapping) else "state dict"),
                            "torch", meta, n_outputs=n_outputs, seed=seed)
