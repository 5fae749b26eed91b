"""From tensors named as torch names them to an engine model (format-neutral, NumPy only).

A *tensor source* is what a file reader hands over: the names, shapes and dtypes of every tensor
(read from the file's header, nothing loaded yet) and a way to read one as float64. This module
finds the ONE recurrent module among them (``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` names
``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` and their ``_reverse``
twins, under any prefix; ``nn.LSTMCell``'s ``weight_ih`` … count as layer 0), infers the cell, the
sizes, the number of layers and the directions from the shapes, finds a linear head whose input
size fits, checks everything, and builds the engine model. Whatever it cannot map raises
:class:`~explorer.interop.errors.ModelFileError` with one sentence naming the key.
"""

from __future__ import annotations

import contextlib
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from explorer.engine import make_model
from explorer.util.ram import check_budget

from .errors import ModelFileError

#: Rows of weight_ih / weight_hh per unit: the number of gate blocks of each cell.
GATE_BLOCKS = {"rnn": 1, "gru": 3, "lstm": 4, "peephole": 4}
KIND_BY_BLOCKS = {1: "rnn", 3: "gru", 4: "lstm"}
KIND_TITLES = {"rnn": "RNN", "gru": "GRU", "lstm": "LSTM", "peephole": "peephole LSTM", "convlstm": "ConvLSTM"}


def units(n: int) -> str:
    """``1 unit``, ``8 units``."""
    return f"{n} unit{'s' * (int(n) != 1)}"


def with_article(words: str) -> str:
    """``a GRU``, ``an LSTM``, ``an RNN``, ``an 8-layer LSTM``, ``a 2-layer GRU`` (by the sound)."""
    first = words.split("-")[0].split()[0] if words else ""
    vowel = first[:1].lower() in "aeio" or first.startswith(("LSTM", "RNN", "8", "11", "18")) \
        or (first.isdigit() and first.startswith("8"))
    return f"{'an' if vowel else 'a'} {words}"
FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
PEEPHOLES = ("i", "f", "o")

_RNN_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)(?P<param>weight_ih|weight_hh|bias_ih|bias_hh|weight_hr)"
                      r"(?:_l(?P<layer>\d+)(?P<rev>_reverse)?)?$")
_PEEP_KEY = re.compile(r"^(?P<prefix>(?:.*\.)?)peephole_(?P<gate>[ifo])(?:_l(?P<layer>\d+)(?P<rev>_reverse)?)?$")


#: The ``interrupt()`` of the model being opened in this thread (None: not interruptible).
_INTERRUPT: ContextVar = ContextVar("model_interrupt", default=None)


@contextlib.contextmanager
def interruptible(interrupt):
    """Within the block, :func:`check_interrupt` raises :class:`~explorer.engine.Interrupted` once
    ``interrupt()`` returns True (a window's worker asked to stop: another file was opened, the
    window closes)."""
    token = _INTERRUPT.set(interrupt)
    try:
        yield
    finally:
        _INTERRUPT.reset(token)


def check_interrupt() -> None:
    """Between two reads of a model file: stop if asked to (see :func:`interruptible`)."""
    interrupt = _INTERRUPT.get()
    if interrupt is not None and interrupt():
        from explorer.engine import Interrupted

        raise Interrupted()


@dataclass(frozen=True)
class TensorInfo:
    """What a file's header says about one tensor: its shape and its dtype's name
    (``float16``, ``bfloat16``, ``float32``, ``float64`` or whatever else the file holds)."""

    shape: tuple
    dtype: str


class TensorSource:
    """Tensors of one file: ``infos`` (name → :class:`TensorInfo`) and :meth:`read`."""

    def __init__(self, label: str, infos: dict, reader):
        self.label = label
        self.infos = dict(infos)
        self._reader = reader
        self._read_values = 0

    def read(self, key: str) -> np.ndarray:
        """The tensor ``key`` as a float64 array, refused when it holds NaN or infinities. Every
        tensor read (recurrent layers and head alike) counts against the memory budget first."""
        info = self.infos[key]
        if info.dtype not in FLOAT_DTYPES:
            raise ModelFileError(f"{self.label}: {key} holds {info.dtype} numbers; the explorer reads "
                                 "float16, bfloat16, float32 and float64 weights.")
        check_interrupt()
        values = 1
        for s in info.shape:
            values *= int(s)
        check_budget((self._read_values + values) * 8 * 3, f"opening {self.label}", "open a smaller model")
        self._read_values += values
        arr = np.asarray(self._reader(key), dtype=np.float64)
        if arr.shape != tuple(info.shape):
            raise ModelFileError(f"{self.label}: {key} has shape {arr.shape} but its header says "
                                 f"{tuple(info.shape)}; the file is damaged.")
        if not np.all(np.isfinite(arr)):
            raise ModelFileError(f"{self.label}: {key} holds NaN or infinite values; "
                                 "save the model again from a finite checkpoint.")
        return arr


@dataclass(frozen=True)
class LoadedModel:
    """An engine model opened from a file, and what was found there.

    ``prefix`` is the recurrent module's name in the file (``"encoder.lstm."``; ``""`` for none),
    ``head`` the linear head's name (``"fc"``) or None when there was none and a new one started
    from random weights; ``notes`` are sentences for the person (what was assumed, ignored or
    started anew); ``message`` joins them after a one-line description.
    """

    model: object
    path: Path
    format: str
    prefix: str
    head: str | None
    notes: tuple = ()
    metadata: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return self.model.kind

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    @property
    def bidirectional(self) -> bool:
        return bool(self.model.bidirectional)

    @property
    def has_head(self) -> bool:
        return self.head is not None

    def describe(self) -> str:
        """``weights.safetensors: a 2-layer bidirectional LSTM of 8 units over 3 inputs (prefix
        "encoder.lstm."), head "fc" with 1 output``."""
        m = self.model
        shape = f"{self.num_layers}-layer " if self.num_layers > 1 else ""
        shape += "bidirectional " if self.bidirectional else ""
        where = "" if not self.prefix else (f" ({self.prefix})" if self.format == "keras"
                                            else f' (prefix "{self.prefix}")')
        head = (f'head "{self.head}" with {m.n_outputs} output{"s" * (m.n_outputs != 1)}'
                if self.head else "a new head")
        what = with_article(f"{shape}{KIND_TITLES.get(m.kind, m.kind)}")
        return (f"{self.path.name}: {what} of {units(m.n_units)} "
                f"over {m.n_inputs} input{'s' * (m.n_inputs != 1)}{where}, {head}.")

    @property
    def message(self) -> str:
        return " ".join((self.describe(),) + tuple(self.notes))


@dataclass
class RecurrentSpec:
    """A recurrent module mapped onto the engine's state-dict names (float64 arrays)."""

    kind: str
    n_inputs: int
    n_units: int
    num_layers: int
    num_directions: int
    state: dict                   # engine keys (weight_ih_l0 …, peephole_i_l0 …) → arrays
    head_weight: np.ndarray | None = None
    head_bias: np.ndarray | None = None
    notes: list = field(default_factory=list)
    pool: str | None = None       # a whole-sequence model's pooling ("last", "attention"), else None
    attention: dict = field(default_factory=dict)   # attention.weight / .bias / .v


ATTENTION_KEYS = ("attention.weight", "attention.bias", "attention.v")


def engine_key(param: str, layer: int, direction: int) -> str:
    """``weight_ih_l1_reverse`` for ``("weight_ih", 1, 1)``."""
    return f"{param}_l{layer}{'_reverse' if direction else ''}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _module_keys(src: TensorSource) -> dict:
    """``{prefix: {(param, layer, direction): key}}`` of every recurrent-looking tensor."""
    modules: dict = {}
    for key in src.infos:
        m = _RNN_KEY.match(key) or _PEEP_KEY.match(key)
        if not m:
            continue
        g = m.groupdict()
        param = g.get("param") or f"peephole_{g['gate']}"
        layer = int(g["layer"]) if g["layer"] is not None else 0
        entry = (param, layer, 1 if g["rev"] else 0)
        found = modules.setdefault(g["prefix"], {})
        if entry in found:
            raise ModelFileError(f"{src.label} has both {found[entry]} and {key} for the same tensor "
                                 "of one layer; keep one of them.")
        found[entry] = key
    # a prefix holding only peephole-looking names is not a module of its own
    return {p: keys for p, keys in modules.items()
            if any(k[0] in ("weight_ih", "weight_hh", "weight_hr") for k in keys)}


def find_module(src: TensorSource) -> tuple[str, dict]:
    """The one recurrent module: its prefix and ``{(param, layer, direction): key}``."""
    modules = _module_keys(src)
    if not modules:
        names = ", ".join(list(src.infos)[:6]) + (", …" if len(src.infos) > 6 else "")
        raise ModelFileError(
            f"{src.label} holds no recurrent layer: no tensor is named like torch's nn.LSTM, nn.GRU "
            f"or nn.RNN (weight_ih_l0, weight_hh_l0, …); its tensors are {names or 'none'}.")
    if len(modules) > 1:
        firsts = [sorted(keys.values())[0] for keys in modules.values()]
        raise ModelFileError(
            f"{src.label} holds {len(modules)} recurrent modules ({', '.join(firsts[:3])}); the "
            "explorer opens one: save a file with one recurrent module and its linear head.")
    prefix, keys = next(iter(modules.items()))
    for (param, _, _), key in sorted(keys.items()):
        if param == "weight_hr":
            raise ModelFileError(
                f"{src.label}: {key} is the projection of an LSTM with proj_size, which the explorer "
                "cannot run; open a model made without proj_size.")
    return prefix, keys


def _shape_of(src, key) -> tuple:
    return tuple(int(s) for s in src.infos[key].shape)


def infer_spec(src: TensorSource, metadata: dict | None = None) -> tuple[str, RecurrentSpec, set]:
    """Find, check and read the recurrent module. Returns ``(prefix, spec, keys used)``."""
    prefix, keys = find_module(src)
    meta = metadata or {}
    layers = sorted({layer for (_, layer, _) in keys})
    L = layers[-1] + 1
    D = 2 if any(d for (_, _, d) in keys) else 1
    label = src.label

    def key_of(param, layer, d):
        return keys.get((param, layer, d)) or f"{prefix}{engine_key(param, layer, d)}"

    if len(layers) != L:                    # a gap (l0, l2 without l1): name the first missing layer
        gap = next(k for k, have in enumerate(layers) if k != have)
        raise ModelFileError(f"{label} has no {key_of('weight_ih', gap, 0)} but has tensors of layer {L - 1}; "
                             "the layers of a recurrent module are numbered 0, 1, 2, … without gaps.")
    check_layer_count(L, label)
    k_hh = key_of("weight_hh", 0, 0)
    if ("weight_hh", 0, 0) not in keys:
        raise ModelFileError(f"{label} has no {k_hh}: the recurrent weights of the first layer are missing.")
    hh_shape = _shape_of(src, k_hh)
    rows, n = hh_shape if len(hh_shape) == 2 else (0, 0)
    if n < 1 or rows % n or rows // n not in KIND_BY_BLOCKS:
        raise ModelFileError(
            f"{label}: {k_hh} has shape {hh_shape}; a recurrent layer of n units needs (n, n) for an "
            "RNN, (3n, n) for a GRU or (4n, n) for an LSTM.")
    kind = KIND_BY_BLOCKS[rows // n]
    meta_kind = meta.get("kind")
    if meta_kind is not None:
        if meta_kind not in GATE_BLOCKS or GATE_BLOCKS[meta_kind] != rows // n:
            raise ModelFileError(f"{label}: its metadata says kind {meta_kind!r} but {k_hh} has "
                                 f"{rows // n} gate blocks of {units(n)}; the file is inconsistent.")
        kind = meta_kind
    elif any(p.startswith("peephole_") for (p, _, _) in keys):
        kind = "peephole" if kind == "lstm" else kind
    G = GATE_BLOCKS[kind]
    k_ih = key_of("weight_ih", 0, 0)
    if ("weight_ih", 0, 0) not in keys:
        raise ModelFileError(f"{label} has no {k_ih}: the input weights of the first layer are missing.")
    ih_shape = _shape_of(src, k_ih)
    if len(ih_shape) != 2 or ih_shape[0] != G * n or ih_shape[1] < 1:
        raise ModelFileError(f"{label}: {k_ih} has shape {ih_shape}; {with_article(KIND_TITLES[kind])} of {units(n)} "
                             f"needs ({G * n}, m) with m the inputs per step.")
    m = ih_shape[1]
    for name, value in (("num_layers", L), ("bidirectional", D == 2), ("n_units", n), ("n_inputs", m)):
        if name in meta and str(meta[name]).lower() != str(value).lower():
            raise ModelFileError(f"{label}: its metadata says {name} {meta[name]} but the tensors hold "
                                 f"{value}; the file is inconsistent.")
    has_bias = any(p.startswith("bias_") for (p, _, _) in keys)
    peep = kind == "peephole"
    needed = []
    for layer in range(L):
        for d in range(D):
            m_in = m if layer == 0 else D * n
            needed += [("weight_ih", layer, d, (G * n, m_in)), ("weight_hh", layer, d, (G * n, n))]
            if has_bias:
                needed += [("bias_ih", layer, d, (G * n,)), ("bias_hh", layer, d, (G * n,))]
            if peep:
                needed += [(f"peephole_{g}", layer, d, (n,)) for g in PEEPHOLES]
    expected = {(p, layer, d) for (p, layer, d, _) in needed}
    for entry, key in sorted(keys.items()):
        if entry not in expected:
            raise ModelFileError(f"{label}: {key} does not belong to a {_plural(L, 'layer')} "
                                 f"{'bidirectional ' if D == 2 else ''}{KIND_TITLES[kind]}; "
                                 "the file mixes tensors of different modules.")
    check_budget(sum(int(np.prod(s)) for *_, s in needed) * 8 * 3, f"opening {label}",
                 "open a smaller model")
    state = {}
    for param, layer, d, shape in needed:
        key = keys.get((param, layer, d))
        if key is None:
            raise ModelFileError(f"{label} has no {key_of(param, layer, d)}: a {_plural(L, 'layer')} "
                                 f"{'bidirectional ' if D == 2 else ''}{KIND_TITLES[kind]} needs it.")
        got = _shape_of(src, key)
        if got != shape:
            raise ModelFileError(f"{label}: {key} has shape {got}; {with_article(KIND_TITLES[kind])} of {units(n)} "
                                 f"over {shape[-1] if param == 'weight_ih' else n} inputs needs {shape}.")
        state[engine_key(param, layer, d)] = src.read(key)
    notes = []
    if not has_bias:
        for layer in range(L):
            for d in range(D):
                for param in ("bias_ih", "bias_hh"):
                    state[engine_key(param, layer, d)] = np.zeros(G * n)
        notes.append("The recurrent layer has no biases (bias=False): they start at zero and train.")
    spec = RecurrentSpec(kind, m, n, L, D, state, notes=notes)
    return prefix, spec, set(keys.values())


def find_head(src: TensorSource, used: set, width: int) -> tuple[str | None, list]:
    """A linear layer ``NAME.weight`` (k, width) (+ ``NAME.bias`` (k)) outside the recurrent
    module: ``(name, notes)``; None when there is none, or several and none stands out."""
    candidates = []
    for key, info in src.infos.items():
        if key in used or not (key == "weight" or key.endswith(".weight")):
            continue
        if len(info.shape) != 2 or int(info.shape[1]) != width or info.dtype not in FLOAT_DTYPES:
            continue
        name = key[:-len(".weight")] if key != "weight" else ""
        bias = f"{name}.bias" if name else "bias"
        b = src.infos.get(bias)
        has_bias = b is not None and tuple(b.shape) == (int(info.shape[0]),)
        candidates.append((name, has_bias))
    if len(candidates) > 1:
        with_bias = [c for c in candidates if c[1]]
        if len(with_bias) == 1:
            return with_bias[0][0], []
        names = ", ".join(f"{c[0] or '(top level)'}.weight" for c in candidates)
        return None, [f"Several linear layers take the recurrent layer's {width} outputs ({names}); "
                      "none was taken as the head: a new head starts from random weights."]
    if not candidates:
        return None, [f"The file has no linear layer taking the recurrent layer's {width} outputs "
                      f"(a weight of shape (k, {width})): a new head starts from random weights."]
    return candidates[0][0], []


def read_head(src: TensorSource, name: str) -> tuple[np.ndarray, np.ndarray | None, set]:
    wkey = f"{name}.weight" if name else "weight"
    bkey = f"{name}.bias" if name else "bias"
    W = src.read(wkey)
    used = {wkey}
    b = None
    if bkey in src.infos and tuple(src.infos[bkey].shape) == (W.shape[0],):
        b = src.read(bkey)
        used.add(bkey)
    return W, b, used


def ignored_note(src: TensorSource, used: set) -> list:
    """A note naming the tensors that are neither the recurrent module nor the head."""
    rest = [k for k in src.infos if k not in used]
    if not rest:
        return []
    shown = ", ".join(f"{k} {tuple(src.infos[k].shape)}" for k in rest[:4]) + (", …" if len(rest) > 4 else "")
    return [f"Ignored {_plural(len(rest), 'other tensor')} ({shown}): the explorer runs the recurrent "
            "layer and one linear head, so where the original model had more layers its outputs differ."]


def make_engine_model(kind: str, n_inputs: int, n_units: int, n_outputs: int, num_layers: int = 1,
                      num_directions: int = 1, seed: int = 0, pool: str | None = None,
                      attention_size: int | None = None):
    """The engine's ``make_model`` with the sizes a file holds."""
    return make_model(kind, n_inputs, n_units, n_outputs, num_layers=num_layers,
                      bidirectional=num_directions == 2, seed=seed, pool=pool, attention_size=attention_size)


def read_attention(src: TensorSource, width: int, metadata: dict) -> tuple[str | None, dict]:
    """A whole-sequence model's pooling and attention tensors: ``(pool, {key: array})``, from the
    metadata's ``pool`` or the ``attention.*`` tensors (a, width), (a,), (a,)."""
    present = [k for k in ATTENTION_KEYS if k in src.infos]
    pool = metadata.get("pool") or ("attention" if present else None)
    if pool not in (None, "last", "attention"):
        raise ModelFileError(f"{src.label}: its metadata names the pooling {pool!r}, which is not last or attention.")
    if pool != "attention":
        return pool, {}
    if len(present) < len(ATTENTION_KEYS):
        missing = next(k for k in ATTENTION_KEYS if k not in present)
        raise ModelFileError(f"{src.label} has attention tensors but no {missing}; the file is incomplete.")
    W = src.read("attention.weight")
    a = W.shape[0] if W.ndim == 2 else -1
    for key, shape in zip(ATTENTION_KEYS, ((a, width), (a,), (a,))):
        if tuple(src.infos[key].shape) != shape:
            raise ModelFileError(f"{src.label}: {key} has shape {tuple(src.infos[key].shape)}; the attention "
                                 f"over {_plural(width, 'recurrent output')} needs {shape}.")
    return pool, {k: np.asarray(src.read(k), dtype=np.float64) for k in ATTENTION_KEYS}


def check_layer_count(layers: int, label: str) -> None:
    """Refuse a model of more stacked layers than ``--layers`` takes (before its weights are read)."""
    from explorer.runs.options import BY_DEST

    most = int(BY_DEST["layers"].high)
    if layers > most:
        raise ModelFileError(f"{label} stacks {layers} recurrent layers; LSTM Explorer runs at most {most}: "
                             f"open a model of {most} layers or fewer.")


def check_storable(spec: RecurrentSpec, label: str) -> None:
    """Refuse, in one sentence, a model a run folder cannot hold: more layers than ``--layers``
    takes, or a weight beyond the ±MAX_ABS_WEIGHT a saved run may hold (it would be opened, then
    called damaged when saved or reopened)."""
    from explorer.runs.store import MAX_ABS_WEIGHT

    check_layer_count(spec.num_layers, label)
    arrays = list(spec.state.items()) + [("head weight", spec.head_weight), ("head bias", spec.head_bias)]
    for key, arr in arrays:
        worst = float(arr.flat[np.argmax(np.abs(arr))]) if arr is not None and arr.size else 0.0
        if abs(worst) > MAX_ABS_WEIGHT:
            raise ModelFileError(f"{label}: {key} holds {worst:.6g}, beyond the "
                                 f"\u00b1{MAX_ABS_WEIGHT:g} a run can hold; open a model trained to ordinary "
                                 "weights.")


def build_model(spec: RecurrentSpec, n_outputs: int = 1, seed: int = 0, label: str = "the model"):
    """The engine model of ``spec`` (refused unless :func:`check_storable`): its recurrent weights,
    and its head or a new one with ``n_outputs`` outputs (seeded)."""
    check_storable(spec, label)
    k = spec.head_weight.shape[0] if spec.head_weight is not None else int(n_outputs)
    a = spec.attention["attention.weight"].shape[0] if spec.attention else None
    model = make_engine_model(spec.kind, spec.n_inputs, spec.n_units, k, spec.num_layers,
                              spec.num_directions, seed=seed, pool=spec.pool, attention_size=a)
    state = model.state_dict()
    state.update(spec.state)
    state.update(spec.attention)
    if spec.head_weight is not None:
        state["head.weight"] = spec.head_weight
        state["head.bias"] = (spec.head_bias if spec.head_bias is not None
                              else np.zeros(spec.head_weight.shape[0]))
    model.load_state_dict(state)
    return model


def load_torch_named(src: TensorSource, path: Path, fmt: str, metadata: dict | None,
                     n_outputs: int = 1, seed: int = 0) -> LoadedModel:
    """The whole mapping for tensors named as torch names them (safetensors files); 4-D
    recurrent weights go to :func:`~explorer.interop.convlstm_io.load_convlstm_named`."""
    from .convlstm_io import is_convolutional, load_convlstm_named

    if is_convolutional(src):
        return load_convlstm_named(src, path, fmt, metadata, n_outputs=n_outputs, seed=seed)
    prefix, spec, used = infer_spec(src, metadata)
    width = spec.num_directions * spec.n_units
    meta = metadata or {}
    head_name = meta.get("head")
    notes = list(spec.notes)
    spec.pool, spec.attention = read_attention(src, width, meta)
    used |= set(spec.attention)
    if head_name is not None:
        head_name = head_name[:-1] if head_name.endswith(".") else head_name
        if f"{head_name}.weight" not in src.infos:
            raise ModelFileError(f"{src.label}: its metadata names the head {head_name!r} but the file "
                                 f"has no {head_name}.weight; the file is inconsistent.")
    else:
        head_name, head_notes = find_head(src, used, width)
        notes += head_notes
    if head_name is not None:
        W, b, head_used = read_head(src, head_name)
        if W.shape[1] != width:
            raise ModelFileError(f"{src.label}: {head_name}.weight has shape {W.shape}; the head of "
                                 f"{_plural(width, 'recurrent output')} needs (k, {width}).")
        spec.head_weight, spec.head_bias = W, b
        used |= head_used
        if b is None:
            notes.append(f"The head {head_name} has no bias: it starts at zero and trains.")
        if spec.num_directions == 2 and spec.pool is None:
            notes.append(f"The head {head_name} sees [h_t forward; h_t backward] at every step, as torch's "
                         "output sequence; a head trained on torch's h_n saw the backward state of step 1.")
    notes += ignored_note(src, used)
    if spec.kind == "rnn" and not meta:
        notes.append("An RNN's nonlinearity is not stored in its weights: tanh (torch's default) is "
                     "assumed.")
    model = build_model(spec, n_outputs=n_outputs, seed=seed, label=src.label)
    return LoadedModel(model=model, path=Path(path), format=fmt, prefix=prefix, head=head_name,
                       notes=tuple(notes), metadata=dict(meta))
