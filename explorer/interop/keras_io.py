"""Keras models: Keras 3 ``.keras`` (a zip with ``config.json`` and ``model.weights.h5``) and
``.weights.h5``, and Keras 2's ``.h5`` (``layer_names`` / ``weight_names``), through h5py (the
optional extra ``keras``).

Keras 3 writes every layer's own variables as datasets ``"0"``, ``"1"``, … of a ``vars`` group
at the layer's path (``keras/src/saving/saving_lib.py``, ``H5IOStore``): a model's layers live
under ``layers/<snake_case(class name)>[_<count>]`` (``layers/lstm``, ``layers/lstm_1``,
``layers/dense``), an RNN layer's weights under its ``cell`` (``layers/lstm/cell/vars/0`` the
kernel (m, G·n), ``1`` the recurrent kernel (n, G·n), ``2`` the bias), a ``Bidirectional``'s under
``forward_layer/cell`` and ``backward_layer/cell``, a ``Dense``'s ``vars/0`` kernel (n, k) and
``vars/1`` bias (k).

Keras' equations against torch's (which the engine runs): the LSTM's gate blocks are i, f, c, o
— torch's i, f, g, o — so its weights are the transposed kernels and its bias ``bias_ih``. The GRU
with ``reset_after=True`` (bias (2, 3n): input and recurrent bias) *is* torch's GRU with the blocks
z, r, h reordered to r, z, n: h = z ⊙ h_prev + (1 − z) ⊙ tanh(W_h x + b_h + r ⊙ (U_h h_prev +
b_hh)). ``reset_after=False`` applies r before U_h, which torch has not: refused. SimpleRNN is
torch's tanh RNN. ``Bidirectional(merge_mode="concat")`` with ``return_sequences=True`` is torch's
bidirectional layer (its backward outputs are flipped back into input order).
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from explorer.data.errors import safe_text
from explorer.engine import Interrupted
from explorer.util.ram import MemoryBudgetError, check_budget

from .errors import KERAS_EXTRA_HINT, MissingExtraError, ModelFileError
from .mapping import (KIND_BY_BLOCKS, KIND_TITLES, LoadedModel, RecurrentSpec, TensorInfo, TensorSource,
                      build_model, check_interrupt, check_layer_count, engine_key, units, with_article)

#: torch's gate block j is Keras' block TORCH_ORDER[kind][j] (Keras: LSTM i, f, c, o; GRU z, r, h).
TORCH_ORDER = {"lstm": (0, 1, 2, 3), "gru": (1, 0, 2), "rnn": (0,)}
MAX_CONFIG_BYTES = 50 * 1024 * 1024
#: More links or objects than any Keras model holds: a file beyond it is refused before it is walked.
MAX_H5_ITEMS = 100_000
#: The most chunks a file's datasets may be stored in together: HDF5 reads a chunk in about 12 µs,
#: so a small file declaring millions of one-value chunks would take minutes to read (Keras stores
#: each weight whole, in one piece).
MAX_H5_CHUNKS = 100_000
_REFUSE_OUTSIDE = ("LSTM Explorer reads only weights stored inside the model file (a crafted file can point "
                   "at any other file); save the model again with model.save(PATH.keras).")


def check_stored_inside(f, label: str) -> None:
    """Refuse, before any dataset is read, an HDF5 file whose weights are not all inside it: an
    external link (to another file), a link of a kind HDF5 lets programs define, a dataset kept in
    external raw files (``external=``) or a virtual dataset (mapped from other files). Soft links
    stay inside the file once external links are refused. Also refused: more than
    :data:`MAX_H5_ITEMS` links or :data:`MAX_H5_CHUNKS` chunks (a small file that would take
    minutes to walk or read). Walked without following any link (HDF5's own visit, which cycles
    cannot trap)."""
    h5py = _h5py(label)
    found: list = []
    count = [0, 0]                   # links seen, chunks of the datasets seen
    asked = []                       # stop was asked: raised after the visit (h5py's callbacks must not raise)

    def stopping() -> bool:
        try:
            check_interrupt()
        except Interrupted:
            asked.append(True)
        return bool(asked)

    def outside(what: str) -> str:
        return f"{label} {what}; {_REFUSE_OUTSIDE}"

    def link(name, lnk):
        if stopping():
            return True
        count[0] += 1
        if count[0] > MAX_H5_ITEMS:
            found.append(f"{label} holds more than {MAX_H5_ITEMS:,} links, more than any Keras model; save the "
                         "model again with model.save(PATH.keras).")
        elif isinstance(lnk, h5py.ExternalLink):
            found.append(outside(f"links {safe_text(name)} to the file {safe_text(lnk.filename)}"))
        elif not isinstance(lnk, (h5py.HardLink, h5py.SoftLink)):
            found.append(outside(f"holds a user-defined link {safe_text(name)}"))
        return True if found else None

    def dataset(name, obj):
        if stopping():
            return True
        if isinstance(obj, h5py.Dataset):
            if obj.is_virtual:
                found.append(outside(f"holds {safe_text(name)} as a virtual dataset (mapped from other files)"))
            elif obj.external:
                found.append(outside(f"keeps the values of {safe_text(name)} in the external file "
                                            f"{safe_text(os.fsdecode(obj.external[0][0]))!r}"))
            elif obj.chunks is not None:
                count[1] += int(np.prod([-(-int(s) // int(c)) for s, c in zip(obj.shape, obj.chunks)], dtype=object))
                if count[1] > MAX_H5_CHUNKS:
                    found.append(f"{label} stores its weights in more than {MAX_H5_CHUNKS:,} pieces (HDF5 chunks, "
                                 f"up to {safe_text(name)}), which would take minutes to read; save the model again with "
                                 "model.save(PATH.keras).")
        return True if found else None

    f.visititems_links(link)
    if not found and not asked:
        f.visititems(dataset)
    if asked:
        raise Interrupted()
    if found:
        raise ModelFileError(found[0])


def _h5py(label: str):
    try:
        import h5py
    except ImportError:
        raise MissingExtraError(f"{label}: {KERAS_EXTRA_HINT}.") from None
    return h5py


def to_snake_case(name: str) -> str:
    """Keras' ``naming.to_snake_case``: ``SimpleRNN`` → ``simple_rnn``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


@dataclass
class KerasLayer:
    """One layer found in the file: its path, role and weight keys (h5 paths), per direction."""

    path: str
    role: str                          # "recurrent", "dense" or "other"
    weights: list                      # recurrent: [[kernel, recurrent, bias?] per direction]; dense: [[kernel, bias?]]
    config: dict | None = None
    order: tuple = ()


def _counter(name: str) -> tuple:
    m = re.match(r"^(.*?)(?:_(\d+))?$", name)
    return m.group(1), int(m.group(2) or 0)


def _vars(group) -> list:
    """The datasets of a ``vars`` group in Keras' order (``"0"``, ``"1"``, …) as h5 paths."""
    if group is None or "vars" not in group:
        return []
    v = group["vars"]
    return [v[k].name.lstrip("/") for k in sorted(v, key=lambda s: int(s) if s.isdigit() else 1 << 30)]


def _keras3_layers(group, configs: dict, out: list) -> None:
    for name in group:
        g = group[name]
        if not hasattr(g, "keys"):
            continue
        path = g.name.lstrip("/")
        order = configs.get(path, (1 << 30,) + _counter(name))
        cfg = configs.get(path + "#config")
        if "layers" in g:                                   # a nested model
            _keras3_layers(g["layers"], configs, out)
        elif "forward_layer" in g and "backward_layer" in g:
            out.append(KerasLayer(path, "recurrent", [_vars(g["forward_layer"].get("cell")),
                                                      _vars(g["backward_layer"].get("cell"))], cfg, order))
        elif "cell" in g:
            out.append(KerasLayer(path, "recurrent", [_vars(g["cell"])], cfg, order))
        elif name.startswith("time_distributed") and "layer" in g and _vars(g["layer"]):
            out.append(KerasLayer(path, "dense", [_vars(g["layer"])], cfg, order))
        elif _vars(g):
            out.append(KerasLayer(path, "dense" if name.startswith("dense") else "other", [_vars(g)], cfg, order))


def _keras3_configs(config: dict | None) -> dict:
    """``{"layers/lstm_1": order, "layers/lstm_1#config": its config}`` from ``config.json``,
    naming each layer as Keras' saver does (snake-cased class name, counted)."""
    out: dict = {}
    if not isinstance(config, dict):
        return out

    def walk(model_cfg, prefix, base):
        layers = (model_cfg.get("config") or {}).get("layers") or []
        used: dict = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
                continue
            snake = to_snake_case(layer["class_name"])
            count = used.get(snake)
            used[snake] = 0 if count is None else count + 1
            name = snake if count is None else f"{snake}_{count + 1}"
            if layer["class_name"] == "InputLayer":
                continue
            path = f"{prefix}/{name}"
            out[path] = base + (i,)
            out[path + "#config"] = layer
            if layer["class_name"] in ("Sequential", "Functional", "Model"):
                walk(layer, path + "/layers", base + (i,))

    walk(config, "layers", ())
    return out


def _legacy_layers(f, label: str) -> tuple[list, dict | None]:
    """Keras 2 ``.h5``: ``layer_names`` in order, each group's ``weight_names`` in order."""
    root = f["model_weights"] if "model_weights" in f else f
    if "layer_names" not in root.attrs:
        raise ModelFileError(f"{label} is an HDF5 file but not a Keras model: it has neither a 'layers' "
                             "group (Keras 3) nor 'layer_names' (Keras 2); save it with model.save(PATH.keras).")
    config = None
    raw = f.attrs.get("model_config")
    if raw is not None and len(raw) > MAX_CONFIG_BYTES:
        raw = None                                   # a config larger than any model's: weights only
    if raw is not None:
        try:
            config = json.loads(raw.decode("utf-8") if isinstance(raw, bytes) else raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            config = None
    by_name = {}
    if isinstance(config, dict):
        for layer in (config.get("config") or {}).get("layers") or []:
            if isinstance(layer, dict):
                name = layer.get("name") or (layer.get("config") or {}).get("name")
                by_name[name] = layer
    names = root.attrs["layer_names"]
    if len(names) > MAX_H5_ITEMS:
        raise ModelFileError(f"{label} names {len(names):,} layers, more than any Keras model; save the model "
                             "again with model.save(PATH.keras).")
    out = []
    for i, raw_name in enumerate(names):
        name = raw_name.decode("utf-8") if isinstance(raw_name, bytes) else str(raw_name)
        if name not in root:
            continue
        g = root[name]
        wnames = [w.decode("utf-8") if isinstance(w, bytes) else str(w) for w in g.attrs.get("weight_names", [])]
        keys = [g[w].name.lstrip("/") for w in wnames if w in g]
        if not keys:
            continue
        base = [w.split("/")[-1].split(":")[0] for w in wnames]
        cfg = by_name.get(name)
        if "recurrent_kernel" in base:
            fwd = [k for k, w in zip(keys, wnames) if "backward_" not in w]
            bwd = [k for k, w in zip(keys, wnames) if "backward_" in w]
            out.append(KerasLayer(name, "recurrent", [fwd, bwd] if bwd else [fwd], cfg, (i,)))
        else:
            role = "dense" if base[:1] == ["kernel"] and len(keys) <= 2 else "other"
            out.append(KerasLayer(name, role, [keys], cfg, (i,)))
    return out, config


def _infos(f, layers) -> dict:
    infos = {}
    for layer in layers:
        for keys in layer.weights:
            for key in keys:
                ds = f[key]
                dtype = "bfloat16" if ds.attrs.get("dtype") in ("bfloat16", b"bfloat16") else ds.dtype.name
                infos[key] = TensorInfo(tuple(ds.shape), dtype)
    return infos


def _reader(f):
    def read(key):
        ds = f[key]
        if ds.attrs.get("dtype") in ("bfloat16", b"bfloat16"):
            raw = np.asarray(ds[()]).view("<u2")
            return (raw.astype(np.uint32) << 16).view(np.float32)
        return ds[()]
    return read


def _layer_config(layer: KerasLayer) -> dict | None:
    """The recurrent layer's own config (inside a Bidirectional: its wrapped layer's)."""
    if not layer.config:
        return None
    cfg = layer.config.get("config") or {}
    if layer.config.get("class_name") == "Bidirectional":
        inner = cfg.get("layer") or {}
        return {"class_name": inner.get("class_name"), **(inner.get("config") or {}),
                "merge_mode": cfg.get("merge_mode", "concat")}
    return {"class_name": layer.config.get("class_name"), **cfg}


def _check_config(layer: KerasLayer, kind: str, label: str, D: int) -> None:
    """Refuse the options of ``config.json`` the engine cannot run (one sentence naming the layer)."""
    cfg = _layer_config(layer)
    if cfg is None:
        return
    where = f"{label}: {layer.path}"
    want = {"activation": "tanh"}
    if kind != "rnn":
        want["recurrent_activation"] = "sigmoid"
    for option, value in want.items():
        got = cfg.get(option, value)
        if got != value:
            raise ModelFileError(f"{where} uses {option}={got!r}; the explorer's {KIND_TITLES[kind]} uses "
                                 f"{value} there (as torch's), so it cannot run this layer.")
    if kind == "gru" and cfg.get("reset_after", True) is False:
        raise ModelFileError(f"{where} is a GRU with reset_after=False, which applies the reset gate before "
                             "the recurrent weights; the explorer runs torch's GRU (reset_after=True): "
                             "retrain with reset_after=True.")
    if D == 1 and cfg.get("go_backwards"):
        raise ModelFileError(f"{where} runs backwards (go_backwards=True) alone; the explorer runs a "
                             "reverse direction only inside a bidirectional layer.")
    if D == 2 and cfg.get("merge_mode", "concat") != "concat":
        raise ModelFileError(f"{where} merges its directions with merge_mode={cfg.get('merge_mode')!r}; "
                             "the explorer concatenates them (merge_mode='concat').")


def _recurrent_weights(src, layer: KerasLayer, d: int, label: str):
    """``(kind, m, n, {param: array})`` of one direction of a Keras recurrent layer, in torch's
    layout."""
    keys = layer.weights[d]
    if len(keys) not in (2, 3):
        raise ModelFileError(f"{label}: {layer.path} holds {len(keys)} weights per direction; a Keras "
                             "LSTM, GRU or SimpleRNN holds a kernel, a recurrent kernel and a bias.")
    kshape, rshape = src.infos[keys[0]].shape, src.infos[keys[1]].shape
    if len(rshape) != 2 or rshape[0] < 1 or rshape[1] % rshape[0] or rshape[1] // rshape[0] not in KIND_BY_BLOCKS:
        raise ModelFileError(f"{label}: {keys[1]} has shape {tuple(rshape)}; a recurrent kernel of n units "
                             "is (n, n), (n, 3n) or (n, 4n).")
    n = rshape[0]
    kind = KIND_BY_BLOCKS[rshape[1] // n]
    G = rshape[1] // n
    if len(kshape) != 2 or kshape[1] != G * n:
        raise ModelFileError(f"{label}: {keys[0]} has shape {tuple(kshape)}; the kernel of a Keras "
                             f"{KIND_TITLES[kind]} of {units(n)} is (m, {G * n}).")
    order = np.concatenate([np.arange(b * n, (b + 1) * n) for b in TORCH_ORDER[kind]])
    kernel, recurrent = src.read(keys[0]), src.read(keys[1])
    out = {"weight_ih": kernel[:, order].T.copy(), "weight_hh": recurrent[:, order].T.copy()}
    zeros = np.zeros(G * n)
    if len(keys) == 3:
        bshape = tuple(src.infos[keys[2]].shape)
        if kind == "gru" and bshape == (G * n,):
            raise ModelFileError(f"{label}: {keys[2]} has shape {bshape}: a GRU with reset_after=False, which "
                                 "applies the reset gate before the recurrent weights; the explorer runs "
                                 "torch's GRU (reset_after=True): retrain with reset_after=True.")
        want = (2, G * n) if kind == "gru" else (G * n,)
        if bshape != want:
            raise ModelFileError(f"{label}: {keys[2]} has shape {bshape}; the bias of a Keras "
                                 f"{KIND_TITLES[kind]} of {units(n)} is {want}.")
        bias = src.read(keys[2])
        if kind == "gru":
            out["bias_ih"], out["bias_hh"] = bias[0][order].copy(), bias[1][order].copy()
        else:
            out["bias_ih"], out["bias_hh"] = bias[order].copy(), zeros
    else:
        out["bias_ih"], out["bias_hh"] = zeros, zeros.copy()
    return kind, kshape[0], n, out


def _spec(src, rec: list, label: str) -> RecurrentSpec:
    D = len(rec[0].weights)
    state = {}
    kind = m = n = None
    for k, layer in enumerate(rec):
        if len(layer.weights) != D:
            raise ModelFileError(f"{label}: {layer.path} runs {len(layer.weights)} direction(s) but "
                                 f"{rec[0].path} {D}; the explorer's layers all run the same directions.")
        for d in range(D):
            lk, lm, ln, w = _recurrent_weights(src, layer, d, label)
            if kind is None:
                kind, m, n = lk, lm, ln
            if lk != kind or ln != n:
                raise ModelFileError(f"{label}: {layer.path} is {with_article(KIND_TITLES[lk])} of {units(ln)} but "
                                     f"{rec[0].path} {with_article(KIND_TITLES[kind])} of {n}; the explorer stacks "
                                     "layers of one cell and one size (as torch does).")
            if k > 0 and lm != D * n:
                raise ModelFileError(f"{label}: {layer.path} takes {lm} inputs but the layer below gives "
                                     f"{D * n}; the file's layers do not stack.")
            for param, arr in w.items():
                state[engine_key(param, k, d)] = arr
        _check_config(layer, kind, label, D)
    return RecurrentSpec(kind, m, n, len(rec), D, state)


def _pick_head(layers: list, rec: list, width: int, src, has_config: bool):
    """The Dense layer after the recurrent layers whose kernel takes ``width`` inputs."""
    last = max(layer.order for layer in rec)
    dense = [layer for layer in layers if layer.role == "dense" and len(layer.weights[0]) in (1, 2)
             and len(src.infos[layer.weights[0][0]].shape) == 2
             and src.infos[layer.weights[0][0]].shape[0] == width]
    if has_config:
        after = sorted((layer for layer in dense if layer.order > last), key=lambda la: la.order)
        dense = after[:1]
    if len(dense) == 1:
        return dense[0], []
    if not dense:
        return None, [f"The file has no Dense layer taking the recurrent layer's {width} outputs (a kernel "
                      f"of shape ({width}, k)): a new head starts from random weights."]
    return None, [f"Several Dense layers take the recurrent layer's {width} outputs "
                  f"({', '.join(la.path for la in dense)}); none was taken as the head: a new head starts "
                  "from random weights."]


def _keras_notes(layers, rec, head, has_config) -> list:
    notes = []
    if not has_config:
        notes.append("The file holds weights only: Keras' default activations (tanh, sigmoid) and "
                     "merge_mode='concat' are assumed.")
    top = _layer_config(rec[-1])
    if top and len(rec[-1].weights) == 2 and not top.get("return_sequences", False):
        notes.append(f"{rec[-1].path} returns only its last step: Keras' output holds the backward "
                     "direction's state after the whole sequence, which the explorer shows at step 1, so "
                     "the head's output at the last step differs from Keras'.")
    if head is not None and head.config:
        act = (head.config.get("config") or {}).get("activation", "linear")
        if isinstance(act, dict):
            act = act.get("config", {}).get("name", act.get("class_name"))
        if act not in ("linear", None):
            notes.append(f"The head {head.path} applies activation={act!r} in Keras; the explorer's head "
                         "is linear (its cross-entropy applies the softmax itself).")
    rest = [layer.path for layer in layers if layer not in rec and layer is not head]
    if rest:
        notes.append(f"Ignored {len(rest)} other layer{'s' * (len(rest) != 1)} with weights "
                     f"({', '.join(rest[:4])}{', …' if len(rest) > 4 else ''}): the explorer runs the "
                     "recurrent layers and one linear head, so where the original model had more layers "
                     "its outputs differ.")
    return notes


def load_keras(path: Path, n_outputs: int = 1, seed: int = 0) -> LoadedModel:
    """Open a Keras 3 ``.keras`` / ``.weights.h5`` or a Keras 2 ``.h5`` file (needs h5py)."""
    label = path.name
    h5py = _h5py(label)
    config = None
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                infos = {i.filename: i for i in zf.infolist()}
                if "model.weights.h5" not in infos:
                    raise ModelFileError(f"{label} is a Keras archive without model.weights.h5 (its weights "
                                         "are in another format); save it again with model.save(PATH.keras).")
                size = infos["model.weights.h5"].file_size
                check_budget(size * 3, f"opening {label}", "open a smaller model")
                if "config.json" in infos and infos["config.json"].file_size < MAX_CONFIG_BYTES:
                    try:
                        config = json.loads(zf.read("config.json").decode("utf-8"))
                    except (ValueError, UnicodeDecodeError, RecursionError):
                        raise ModelFileError(f"{label}: its config.json is not valid JSON; the archive is "
                                             "damaged.") from None
                data = zf.read("model.weights.h5")
            handle = h5py.File(io.BytesIO(data), "r")
        else:
            handle = h5py.File(path, "r")
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ModelFileError(f"{label} is not a readable Keras file ({exc}); save the model with "
                             "model.save(PATH.keras).") from None
    try:
        with handle as f:
            return _load_h5(f, path, config, n_outputs, seed)
    except (ModelFileError, MemoryBudgetError):
        raise
    except (OSError, KeyError, ValueError, TypeError, AttributeError, RecursionError) as exc:
        raise ModelFileError(f"{label} could not be read as a Keras model ({exc}); the file is damaged or "
                             "not a Keras model: save it again with model.save(PATH.keras).") from None


def _load_h5(f, path: Path, config, n_outputs: int, seed: int) -> LoadedModel:
    """Find the layers (Keras 3 paths or Keras 2 names), map them, build the model."""
    label = path.name
    check_stored_inside(f, label)
    layers: list = []
    if "layers" in f:
        _keras3_layers(f["layers"], _keras3_configs(config), layers)
    else:
        layers, config = _legacy_layers(f, label)
    src = TensorSource(label, _infos(f, layers), _reader(f))
    rec = sorted((la for la in layers if la.role == "recurrent"), key=lambda la: la.order)
    if not rec:
        found = ", ".join(la.path for la in layers[:5]) or "none with weights"
        raise ModelFileError(f"{label} holds no Keras LSTM, GRU or SimpleRNN layer (its layers: {found}).")
    check_layer_count(len(rec), label)
    first = rec[0].weights[0]
    if len(first) > 1 and len(src.infos[first[1]].shape) == 4:          # a ConvLSTM2D's recurrent kernel
        from .convlstm_io import load_keras_convlstm

        return load_keras_convlstm(src, layers, rec, bool(config), path, n_outputs=n_outputs, seed=seed)
    spec = _spec(src, rec, label)
    width = spec.num_directions * spec.n_units
    head, head_notes = _pick_head(layers, rec, width, src, bool(config))
    if head is not None:
        keys = head.weights[0]
        spec.head_weight = src.read(keys[0]).T.copy()
        spec.head_bias = src.read(keys[1]) if len(keys) > 1 else None
        if spec.head_bias is not None and spec.head_bias.shape != (spec.head_weight.shape[0],):
            raise ModelFileError(f"{label}: {keys[1]} has shape {spec.head_bias.shape}; the bias of "
                                 f"{head.path} is ({spec.head_weight.shape[0]},).")
    notes = spec.notes + head_notes + _keras_notes(layers, rec, head, bool(config))
    model = build_model(spec, n_outputs=n_outputs, seed=seed, label=label)
    prefix = rec[0].path if len(rec) == 1 else ", ".join(la.path for la in rec)
    return LoadedModel(model=model, path=Path(path), format="keras", prefix=prefix,
                   head=head.path if head is not None else None, notes=tuple(notes),
                   metadata={"keras_config": bool(config)})
