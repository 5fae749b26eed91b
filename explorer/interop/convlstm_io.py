"""ConvLSTM weights in and out: torch-style names (safetensors, ``.npz``) and Keras 3's
``ConvLSTM2D``.

The engine's names (:mod:`explorer.engine.convlstm`): ``weight_ih_l{k}`` (4F, C_in, k, k),
``weight_hh_l{k}`` (4F, F, k, k), ``bias_ih_l{k}``, ``bias_hh_l{k}`` (4F), gate order i, f, g, o,
``peephole_{i,f,o}_l{k}`` (F, H, W), ``head.weight`` (C_out, F, 1, 1), ``head.bias`` (C_out).
A safetensors file holds exactly these names (no prefix); reading accepts any common prefix.

Keras' ``ConvLSTM2D`` (channels_last) keeps per layer ``kernel`` (kh, kw, C_in, 4F),
``recurrent_kernel`` (kh, kw, F, 4F) and ``bias`` (4F,) in the gate order i, f, c, o — torch's
i, f, g, o — and computes z = conv(x, kernel, "same") + bias + conv(h, recurrent_kernel, "same"),
a cross-correlation as torch's conv2d. So ``weight_ih = kernel.transpose(3, 2, 0, 1)``,
``weight_hh = recurrent_kernel.transpose(3, 2, 0, 1)``, ``bias_ih = bias`` and ``bias_hh = 0``
(:func:`keras_to_state`, :func:`state_to_keras`). A 1×1 ``Conv2D`` (kernel (1, 1, F, C_out)) or
a ``Dense`` (F, C_out) after the last layer is the head.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from explorer.engine import make_model
from explorer.util.ram import check_budget

from .errors import ModelFileError
from .mapping import LoadedModel, TensorSource, find_module

_HH = re.compile(r"^(?:.*\.)?weight_hh(?:_l\d+)?$")


def keras_to_state(kernel, recurrent_kernel, bias=None, layer: int = 0) -> dict:
    """One Keras ``ConvLSTM2D`` layer's weights as the engine's ``*_l{layer}`` tensors."""
    kernel, recurrent_kernel = np.asarray(kernel, float), np.asarray(recurrent_kernel, float)
    G = kernel.shape[-1]
    b = np.zeros(G) if bias is None else np.asarray(bias, float)
    return {f"weight_ih_l{layer}": kernel.transpose(3, 2, 0, 1).copy(),
            f"weight_hh_l{layer}": recurrent_kernel.transpose(3, 2, 0, 1).copy(),
            f"bias_ih_l{layer}": b.copy(), f"bias_hh_l{layer}": np.zeros(G)}


def state_to_keras(state: dict, layer: int = 0) -> tuple:
    """``(kernel, recurrent_kernel, bias)`` of layer ``layer`` in Keras' ``ConvLSTM2D`` layout
    (the two torch biases summed)."""
    return (state[f"weight_ih_l{layer}"].transpose(2, 3, 1, 0).copy(),
            state[f"weight_hh_l{layer}"].transpose(2, 3, 1, 0).copy(),
            state[f"bias_ih_l{layer}"] + state[f"bias_hh_l{layer}"])


def is_convolutional(src: TensorSource) -> bool:
    """True when the file's recurrent weights are 4-D (a ConvLSTM's)."""
    return any(_HH.match(key) and len(info.shape) == 4 for key, info in src.infos.items())


def _model(label, state: dict, C, F, C_out, k, L, peephole, frame, seed):
    check_budget(sum(np.asarray(v).size for v in state.values()) * 8 * 3, f"opening {label}", "open a smaller model")
    model = make_model("convlstm", n_inputs=C, n_units=F, n_outputs=C_out, kernel=k, num_layers=L,
                       peephole=peephole, frame=frame, seed=seed)
    full = model.state_dict()
    full.update(state)
    model.load_state_dict(full)
    return model


def _kernel_sizes(label, key, shape, what) -> tuple:
    """(4F, C_in, k) from a torch-layout weight, refusing what is not square and odd."""
    if len(shape) != 4 or shape[2] != shape[3] or shape[2] % 2 == 0 or shape[0] % 4 or shape[0] < 4:
        raise ModelFileError(f"{label}: {key} has shape {tuple(shape)}; a ConvLSTM's {what} is (4F, C, k, k) "
                             "with an odd square kernel k.")
    return shape[0], shape[1], shape[2]


def load_convlstm_named(src: TensorSource, path: Path, fmt: str, metadata: dict | None,
                        n_outputs: int = 1, seed: int = 0) -> LoadedModel:
    """A ConvLSTM from torch-style names (the module's docstring)."""
    label = src.label
    prefix, keys = find_module(src)
    meta = metadata or {}
    if meta.get("kind", "convlstm") != "convlstm":
        raise ModelFileError(f"{label}: its metadata says kind {meta['kind']!r} but its weights are 4-D "
                             "convolution kernels (a ConvLSTM's); the file is inconsistent.")
    rev = sorted(key for (_, _, d), key in keys.items() if d)
    if rev:
        raise ModelFileError(f"{label}: {rev[0]} is a reverse direction; the explorer's ConvLSTM runs forward only.")
    L = max(layer for (_, layer, _) in keys) + 1

    def need(param, layer):
        key = keys.get((param, layer, 0))
        if key is None:
            raise ModelFileError(f"{label} has no {prefix}{param}_l{layer}: a {L}-layer ConvLSTM needs it.")
        return key

    G, F4, k = _kernel_sizes(label, need("weight_hh", 0), src.infos[need("weight_hh", 0)].shape, "recurrent weight")
    F = G // 4
    if F4 != F:
        raise ModelFileError(f"{label}: {need('weight_hh', 0)} has shape {tuple(src.infos[need('weight_hh', 0)].shape)}; "
                             f"the recurrent weight of F channels is (4F, F, k, k).")
    ih = need("weight_ih", 0)
    _, C, _ = _kernel_sizes(label, ih, src.infos[ih].shape, "input weight")
    has_bias = any(p.startswith("bias_") for (p, _, _) in keys)
    peep_keys = [key for (p, _, _), key in keys.items() if p.startswith("peephole_")]
    frame = tuple(int(s) for s in src.infos[peep_keys[0]].shape[1:]) if peep_keys else None
    state, used = {}, set()
    for layer in range(L):
        wanted = {"weight_ih": (G, C if layer == 0 else F, k, k), "weight_hh": (G, F, k, k)}
        if has_bias:
            wanted.update(bias_ih=(G,), bias_hh=(G,))
        if peep_keys:
            wanted.update({f"peephole_{g}": (F, *frame) for g in "ifo"})
        for param, shape in wanted.items():
            key = need(param, layer)
            got = tuple(int(s) for s in src.infos[key].shape)
            if got != shape:
                raise ModelFileError(f"{label}: {key} has shape {got}; layer {layer} of this ConvLSTM "
                                     f"(F = {F}, k = {k}) needs {shape}.")
            state[f"{param}_l{layer}"] = src.read(key)
            used.add(key)
    stray = sorted(set(keys.values()) - used)
    if stray:
        raise ModelFileError(f"{label}: {stray[0]} does not belong to a {L}-layer ConvLSTM "
                             f"{'with' if peep_keys else 'without'} peepholes; the file mixes tensors of different modules.")
    notes = []
    if not has_bias:
        notes.append("The ConvLSTM has no biases: they start at zero and train.")
        for layer in range(L):
            state[f"bias_ih_l{layer}"] = state[f"bias_hh_l{layer}"] = np.zeros(G)
    head = _torch_head(src, used, F, meta.get("head"))
    C_out = int(n_outputs)
    if head is None:
        notes.append(f"The file has no 1×1 convolution head over the {F} channels (a weight of shape "
                     f"(C_out, {F}, 1, 1)): a new head starts from random weights.")
    else:
        wkey, bkey = head
        w = src.read(wkey)
        C_out = w.shape[0]
        state["head.weight"] = w.reshape(C_out, F, 1, 1)
        state["head.bias"] = src.read(bkey) if bkey else np.zeros(C_out)
        used |= {wkey, bkey} - {None}
    rest = [key for key in src.infos if key not in used]
    if rest:
        notes.append(f"Ignored {len(rest)} other tensor{'s' * (len(rest) != 1)} ({', '.join(rest[:4])}"
                     f"{', …' if len(rest) > 4 else ''}).")
    model = _model(label, state, C, F, C_out, k, L, bool(peep_keys), frame, seed)
    head_name = None if head is None else head[0][:-len(".weight")]
    return LoadedModel(model=model, path=Path(path), format=fmt, prefix=prefix, head=head_name,
                       notes=tuple(notes), metadata=dict(meta))


def _torch_head(src: TensorSource, used: set, F: int, named: str | None):
    """``(weight key, bias key or None)`` of the head: ``NAME.weight`` (C_out, F, 1, 1) or (C_out, F)."""
    found = []
    for key, info in src.infos.items():
        if key in used or not key.endswith("weight"):
            continue
        shape = tuple(int(s) for s in info.shape)
        if shape[1:] in ((F, 1, 1), (F,)) and len(shape) in (2, 4):
            name = key[:-len("weight")]
            if named is not None and name.rstrip(".") != named.rstrip("."):
                continue
            b = src.infos.get(name + "bias")
            found.append((key, name + "bias" if b is not None and tuple(b.shape) == (shape[0],) else None))
    return found[0] if len(found) == 1 else None


def save_convlstm(model, path) -> Path:
    """Write a ConvLSTM as safetensors under exactly the state dict's names, with metadata
    (kind, sizes, kernel, peepholes, frame); atomic."""
    from safetensors.numpy import save

    from explorer.runs.store import RunFileError, atomic_write_bytes

    from .safetensors_io import model_metadata

    path = Path(path)
    tensors = {k: np.ascontiguousarray(v, dtype=model.dtype) for k, v in model.state_dict().items()}
    meta = model_metadata(model)
    meta.update(prefix="", kernel=str(model.kernel), peephole="true" if model.peephole else "false",
                frame="" if model.frame is None else f"{model.frame[0]}x{model.frame[1]}")
    try:
        atomic_write_bytes(path, save(tensors, metadata=meta))
    except RunFileError as exc:
        raise ModelFileError(str(exc)) from None
    return path


_KERAS_OPTIONS = {"padding": "same", "data_format": "channels_last", "activation": "tanh",
                  "recurrent_activation": "sigmoid", "go_backwards": False}


def _check_keras_config(label, layer) -> None:
    cfg = (layer.config or {}).get("config") or {}
    for option, value in _KERAS_OPTIONS.items():
        got = cfg.get(option, value)
        if got is None and option == "data_format":
            got = value
        if got != value:
            raise ModelFileError(f"{label}: {layer.path} uses {option}={got!r}; the explorer's ConvLSTM runs "
                                 f"{option}={value!r}, so it cannot run this layer.")
    for option in ("strides", "dilation_rate"):
        got = cfg.get(option, [1, 1])
        if list(np.atleast_1d(got)) not in ([1], [1, 1]):
            raise ModelFileError(f"{label}: {layer.path} uses {option}={got!r}; the explorer's ConvLSTM "
                                 "runs 1 there.")


def load_keras_convlstm(src: TensorSource, layers: list, rec: list, has_config: bool, path: Path,
                        n_outputs: int = 1, seed: int = 0) -> LoadedModel:
    """Keras ``ConvLSTM2D`` layers (``rec``, in order) and their head among ``layers``."""
    label = src.label
    state, C, F, k = {}, None, None, None
    for j, layer in enumerate(rec):
        if len(layer.weights) != 1:
            raise ModelFileError(f"{label}: {layer.path} runs two directions; the explorer's ConvLSTM "
                                 "runs forward only.")
        keys = layer.weights[0]
        if len(keys) not in (2, 3):
            raise ModelFileError(f"{label}: {layer.path} holds {len(keys)} weights; a Keras ConvLSTM2D holds "
                                 "a kernel, a recurrent kernel and a bias.")
        ks, rs = (tuple(int(s) for s in src.infos[key].shape) for key in keys[:2])
        if len(rs) != 4 or rs[0] != rs[1] or rs[0] % 2 == 0 or rs[3] != 4 * rs[2] or len(ks) != 4 \
                or ks[:2] != rs[:2] or ks[3] != rs[3]:
            raise ModelFileError(f"{label}: {layer.path} has kernel {ks} and recurrent kernel {rs}; a "
                                 "ConvLSTM2D of F filters has (k, k, C, 4F) and (k, k, F, 4F) with k odd.")
        if F is None:
            C, F, k = ks[2], rs[2], rs[0]
        elif (rs[2], rs[0]) != (F, k) or ks[2] != F:
            raise ModelFileError(f"{label}: {layer.path} does not stack on {rec[0].path} (filters {rs[2]} "
                                 f"and kernel {rs[0]} over {ks[2]} channels; the explorer stacks layers of "
                                 f"{F} filters and kernel {k}).")
        bias = None
        if len(keys) == 3:
            if tuple(src.infos[keys[2]].shape) != (4 * F,):
                raise ModelFileError(f"{label}: {keys[2]} has shape {tuple(src.infos[keys[2]].shape)}; the "
                                     f"bias of a ConvLSTM2D of {F} filters is ({4 * F},).")
            bias = src.read(keys[2])
        _check_keras_config(label, layer)
        state.update(keras_to_state(src.read(keys[0]), src.read(keys[1]), bias, j))
    notes = [] if has_config else ["The file holds weights only: padding='same', channels_last and Keras' "
                                   "activations (tanh, sigmoid) are assumed; a layer trained with padding='valid' "
                                   "(Keras' default) gives other outputs."]
    head = _keras_head(layers, rec, src, F, has_config)
    C_out = int(n_outputs)
    if head is None:
        notes.append(f"The file has no 1×1 Conv2D or Dense layer over the {F} filters after the ConvLSTM2D: "
                     "a new head starts from random weights.")
    else:
        kernel = src.read(head.weights[0][0])
        w = kernel.reshape(F, -1).T                                     # (C_out, F)
        C_out = w.shape[0]
        state["head.weight"] = w.reshape(C_out, F, 1, 1)
        state["head.bias"] = src.read(head.weights[0][1]) if len(head.weights[0]) > 1 else np.zeros(C_out)
    top = (rec[-1].config or {}).get("config") or {}
    if has_config and not top.get("return_sequences", False):
        notes.append(f"{rec[-1].path} returns only its last step in Keras; the explorer shows every step.")
    rest = [la.path for la in layers if la not in rec and la is not head]
    if rest:
        notes.append(f"Ignored {len(rest)} other layer{'s' * (len(rest) != 1)} with weights ({', '.join(rest[:4])}).")
    model = _model(label, state, C, F, C_out, k, len(rec), False, None, seed)
    return LoadedModel(model=model, path=Path(path), format="keras", prefix=", ".join(la.path for la in rec),
                       head=None if head is None else head.path, notes=tuple(notes),
                       metadata={"keras_config": has_config})


def _keras_head(layers, rec, src, F, has_config):
    last = max(la.order for la in rec)
    found = []
    for la in layers:
        if la in rec or len(la.weights) != 1 or len(la.weights[0]) not in (1, 2):
            continue
        shape = tuple(int(s) for s in src.infos[la.weights[0][0]].shape)
        if (len(shape) == 4 and shape[:3] == (1, 1, F)) or (len(shape) == 2 and shape[0] == F):
            if not has_config or la.order > last:
                found.append(la)
    found.sort(key=lambda la: la.order)
    if has_config:
        return found[0] if found else None
    return found[0] if len(found) == 1 else None


__all__ = ["keras_to_state", "state_to_keras", "is_convolutional", "load_convlstm_named", "save_convlstm",
           "load_keras_convlstm"]
