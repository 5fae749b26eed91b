"""The one strict schema of a run folder's settings files: config.json and state.json (no Qt).

Every value :meth:`explorer.runs.store.Run.load` reads from them is checked here for its JSON type (a
whole number must be a JSON integer: ``8.0`` and ``"8"`` are refused), its range and its
consistency with the other values of the same file, before anything is built from it. A problem is
one sentence naming the file and the key as a dotted path (``config.json has model.units = '8',
not a whole number of at least 1; the run folder is damaged …``) through the reader's ``fail``.

Consistency with the other files (model.npz shapes, optimizer.npz, the rows of the CSV files, the
rebuilt data) is checked by :mod:`explorer.runs.store`, which knows them.
"""

from __future__ import annotations

import math
from typing import Callable

from explorer.runs.options import BY_DEST, OptionError
from explorer.runs.folder import RunFileError, safe_name
from explorer.runs.epochs import EPOCH_NAME, epoch_file_name
from explorer.runs.steplog import CHUNK_NAME

#: The cells and optimisers a run can hold (the engine's names).
CELLS = ("rnn", "gru", "lstm", "peephole")
OPTIMIZERS = ("adam", "momentum", "sgd")
NORMALIZE_METHODS = ("zscore", "minmax", "none")
MISSING = ("interpolate", "drop")
YEAR_MONTH = ("series", "columns")
LEVELS = ("char", "word")
LOSSES = ("mse", "cross_entropy")
DATA_TYPES = ("file", "text", "example", "arrays")

#: The largest magnitude a data value (and so a normaliser's offset) may have: the data layer's
#: :data:`explorer.data.MAX_ABS_VALUE` (a squared error beyond it overflows).
MAX_ABS_DATA = 1e150

#: model.settings keys every run folder (round 1 on) holds; the others may be missing (defaults).
REQUIRED_MODEL_KEYS = ("cell", "units", "optimizer", "lr", "clip", "epochs", "batch", "seed")
#: ... and the ones a folder of this format (:data:`FORMAT`) on always holds.
REQUIRED_MODEL_KEYS_3 = ("layers", "bidirectional", "forget_bias", "sample_index")

#: The run-folder format this version writes (config.json ``format`` and state.json ``format``).
#: 1 (or none): round 1; 2: round 2 before the full hashes; 3: state.json's ``sha256`` covers every
#: file of the version but state.json, and the settings below are required, not defaulted; 4: the
#: per-step history in chunk files listed by state.json's ``step_chunks`` (:mod:`explorer.runs.steplog`)
#: instead of steps.csv and gate_norms.csv; 5: replay's weights in one file per kept epoch listed by
#: state.json's ``epoch_files`` (:mod:`explorer.runs.epochs`) instead of epochs.npz.
FORMAT = 5
#: The first format that hashes every file and requires every setting.
HASHED_FROM = 3

#: The files state.json's ``sha256`` block covers (format 3 on: every one the version holds), besides
#: format 4's chunk files (``steps-NNNNNN.npy``) and format 5's epoch files (``epoch-NNNNNN.npz``).
HASHED_FILES = ("config.json", "model.npz", "optimizer.npz", "history.csv", "steps.csv", "gate_norms.csv",
                "epochs.npz")
_OLD_HASHED = {"model.npz", "optimizer.npz"}

#: The largest learning rate and clipping norm a saved run may have. The command line caps them at
#: 10 and 1e6 (explorer.runs.options); a run made through the Python API may exceed those, never these.
MAX_LR = 1e6
MAX_CLIP = 1e12

Fail = Callable[[str, str], RunFileError]


def show(v) -> str:
    """A value as a message shows it: repr, escaped and shortened."""
    text = repr(v)
    if len(text) > 40:
        text = text[:37] + "…"               # one character: "... " would read as a sentence end
    return safe_name(text)


def is_int(v) -> bool:
    return type(v) is int                          # noqa: E721 - bool and float are not whole numbers here


def is_number(v) -> bool:
    return type(v) in (int, float) and math.isfinite(v)   # noqa: E721


class _File:
    """Checks of one JSON document, each naming ``file`` and the dotted key."""

    def __init__(self, fail: Fail, file: str):
        self.fail_ = fail
        self.file = file

    def fail(self, key: str, v, what: str) -> RunFileError:
        return self.fail_(self.file, f"has {key} = {show(v)}, not {what}")

    def missing(self, key: str) -> RunFileError:
        return self.fail_(self.file, f"lacks the setting {key}")

    def obj(self, d: dict, key: str, path: str, required: bool = True) -> dict | None:
        if key not in d:
            if required:
                raise self.missing(path)
            return None
        v = d[key]
        if not isinstance(v, dict):
            raise self.fail(path, v, "an object of settings")
        return v

    def int(self, d: dict, key: str, path: str, low: int = 0, high: int | None = None,
            required: bool = True):
        if key not in d:
            if required:
                raise self.missing(path)
            return None
        v = d[key]
        rng = f"from {low} to {high}" if high is not None else f"of at least {low}"
        if not is_int(v) or v < low or (high is not None and v > high):
            raise self.fail(path, v, f"a whole number {rng}")
        return v

    def number(self, d: dict, key: str, path: str, low: float = -math.inf, high: float = math.inf,
               low_open: bool = False, high_open: bool = False, required: bool = True):
        if key not in d:
            if required:
                raise self.missing(path)
            return None
        v = d[key]
        ok = is_number(v) and (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
        if not ok:
            raise self.fail(path, v, _number_words(low, high, low_open, high_open))
        return float(v)

    def choice(self, d: dict, key: str, path: str, choices, required: bool = True):
        if key not in d:
            if required:
                raise self.missing(path)
            return None
        v = d[key]
        if not isinstance(v, str) or v not in choices:
            raise self.fail(path, v, f"one of {', '.join(choices)}")
        return v

    def bool(self, d: dict, key: str, path: str, required: bool = False):
        if key not in d:
            if required:
                raise self.missing(path)
            return None
        v = d[key]
        if not isinstance(v, bool):
            raise self.fail(path, v, "true or false")
        return v

    def text(self, d: dict, key: str, path: str, what: str = "a text", required: bool = True):
        if key not in d:
            if required:
                raise self.missing(path)
            return None
        v = d[key]
        if not isinstance(v, str) or not v:
            raise self.fail(path, v, what)
        return v


def _number_words(low, high, low_open, high_open) -> str:
    def fmt(x):
        return f"{x:g}"
    parts = []
    if math.isfinite(low):
        parts.append(f"{'greater than' if low_open else 'at least'} {fmt(low)}")
    if math.isfinite(high):
        parts.append(f"{'below' if high_open else 'at most'} {fmt(high)}")
    return "a finite number" + (" " + " and ".join(parts) if parts else "")


# -- config.json ---------------------------------------------------------------------------------
def is_current_format(cfg: dict, state: dict | None = None) -> bool:
    """Whether a folder was written by format 3 on (:data:`HASHED_FROM`): config.json says format 3
    or more, or state.json carries a ``format`` (older ones never did) or hashes more than the two
    archives. Such a folder must hold every required key and the full ``sha256`` block; an older
    one opens with defaults for what it lacks."""
    fmt = cfg.get("format") if isinstance(cfg, dict) else None
    if is_int(fmt) and fmt >= HASHED_FROM:
        return True
    if isinstance(state, dict):
        digests = state.get("sha256")
        if "format" in state or (isinstance(digests, dict) and set(digests) - _OLD_HASHED):
            return True
    return False


def check_model_settings(fail: Fail, cfg: dict, strict: bool = False) -> dict:
    """config.json's ``model`` object, every key typed and ranged (whole numbers within the option
    table's ranges, lr up to :data:`MAX_LR`, clip up to :data:`MAX_CLIP` or null); returns the
    values by name (round 1's folders lack layers and bidirectional: left out, the defaults apply;
    ``strict``: a folder of this format, every key required)."""
    f = _File(fail, "config.json")
    model = f.obj(cfg, "model", "model")
    out = {}
    for key in REQUIRED_MODEL_KEYS + (REQUIRED_MODEL_KEYS_3 if strict else ()):
        if key not in model:
            raise f.missing(f"model.{key}")
    out["cell"] = f.choice(model, "cell", "model.cell", CELLS)
    out["optimizer"] = f.choice(model, "optimizer", "model.optimizer", OPTIMIZERS)
    for key in ("units", "layers", "batch", "seed", "epochs", "sample_index"):
        if key not in model:
            continue
        v = model[key]
        if key == "epochs":
            out[key] = f.int(model, key, "model.epochs", 0, int(BY_DEST["epochs"].high))
            continue
        if key == "sample_index":
            out[key] = f.int(model, key, "model.sample_index", 0, 10**9)
            continue
        opt, cap = BY_DEST[key], True
        try:
            if not is_int(v):
                raise OptionError
            out[key] = opt.parse(v, cap=cap)
        except OptionError:
            raise f.fail(f"model.{key}", v, opt.describe(cap=cap)) from None
    v = model["lr"]
    if not is_number(v) or v <= 0 or v > MAX_LR:
        raise f.fail("model.lr", v, f"a finite number greater than 0 and at most {MAX_LR:g}")
    out["lr"] = float(v)
    v = model["clip"]
    if v is None or (is_number(v) and v == 0):
        out["clip"] = None
    elif not is_number(v) or v < 0 or v > MAX_CLIP:
        raise f.fail("model.clip", v, f"a finite number from 0 to {MAX_CLIP:g} (or null: no clipping)")
    else:
        out["clip"] = float(v)
    if "forget_bias" in model:
        v = model["forget_bias"]
        if not is_number(v) or abs(v) > 1e6:
            raise f.fail("model.forget_bias", v, "a finite number from -1e+06 to 1e+06")
        out["forget_bias"] = float(v)
    b = f.bool(model, "bidirectional", "model.bidirectional")
    if b is not None:
        out["bidirectional"] = b
    return out


def check_config(fail: Fail, cfg: dict, strict: bool = False) -> None:
    """Every top-level value of config.json besides ``model`` (checked by
    :func:`check_model_settings`) and ``data`` (:func:`check_data`): types and ranges (``strict``:
    a folder of this format, format/app/version/trained/params required)."""
    f = _File(fail, "config.json")
    if "format" in cfg or strict:
        f.int(cfg, "format", "format", 1, FORMAT)
    for key in ("app", "version"):
        if strict and key not in cfg:
            raise f.missing(key)
        if key in cfg and not isinstance(cfg[key], str):
            raise f.fail(key, cfg[key], "a text")
    check_replay(fail, cfg)
    trained = f.obj(cfg, "trained", "trained", required=strict)
    if trained is not None:
        f.int(trained, "epochs", "trained.epochs", 0)
        f.int(trained, "steps", "trained.steps", 0)
    f.int(cfg, "n_inputs", "n_inputs", 1)
    f.int(cfg, "n_outputs", "n_outputs", 1)
    f.choice(cfg, "loss", "loss", LOSSES)
    f.bool(cfg, "target_last", "target_last", required=True)
    f.number(cfg, "target_scale", "target_scale", 0, 2 * MAX_ABS_DATA, low_open=True)
    params = f.obj(cfg, "params", "params", required=strict)
    if params is not None:
        for key in ("layer", "head", "total"):
            f.int(params, key, f"params.{key}", 0)
        if "layers" in params:
            v = params["layers"]
            if not isinstance(v, list) or not v or not all(is_int(x) and x > 0 for x in v):
                raise f.fail("params.layers", v, "a list of whole numbers, one per layer")
            if sum(v) != params["layer"]:
                raise fail("config.json", f"has params.layers = {show(v)} adding up to {sum(v)} where params.layer "
                           f"= {params['layer']}")
        if params["layer"] + params["head"] != params["total"]:
            raise fail("config.json", f"has params.total = {params['total']}, where params.layer + params.head = "
                       f"{params['layer'] + params['head']}")
    history = cfg.get("data_file_history")
    if history is not None and not (isinstance(history, list) and all(_is_fingerprint(r) for r in history)):
        raise f.fail("data_file_history", history, "a list of {path, size, sha256} records")
    if cfg.get("data_file") is not None and not _is_fingerprint(cfg["data_file"]):
        raise f.fail("data_file", cfg["data_file"], "a {path, size, sha256} record")


def check_replay(fail: Fail, cfg: dict) -> dict | None:
    """config.json's ``replay`` block (optional): the epochs kept (ascending whole numbers of at
    least 0), the stride (at least 1), the size cap and the epochs seen (at least 0), a note."""
    f = _File(fail, "config.json")
    rec = f.obj(cfg, "replay", "replay", required=False)
    if rec is None:
        return None
    epochs = rec.get("epochs")
    if "epochs" not in rec:
        raise f.missing("replay.epochs")
    if not isinstance(epochs, list) or not all(is_int(e) and e >= 0 for e in epochs) or any(
            b <= a for a, b in zip(epochs, epochs[1:])):
        raise f.fail("replay.epochs", epochs, "a list of ascending whole numbers of at least 0")
    f.int(rec, "stride", "replay.stride", 1)
    f.int(rec, "cap_bytes", "replay.cap_bytes", 0)
    f.int(rec, "seen", "replay.seen", 0)
    if "note" in rec and not isinstance(rec["note"], str):
        raise f.fail("replay.note", rec["note"], "a text")
    return rec


def _is_fingerprint(r) -> bool:
    return (isinstance(r, dict) and isinstance(r.get("path", ""), str) and is_int(r.get("size"))
            and r["size"] >= 0 and isinstance(r.get("sha256"), str) and len(r["sha256"]) == 64
            and all(c in "0123456789abcdef" for c in r["sha256"]))


def check_data(fail: Fail, data, strict: bool = False) -> dict:
    """config.json's ``data`` object: the settings :func:`explorer.data.dataset_from_config`
    rebuilds the data from, every one typed and ranged (and the normaliser consistent with the
    columns) so that a bad value is blamed on config.json, not on the data file."""
    f = _File(fail, "config.json")
    if not isinstance(data, dict):
        raise f.fail("data", data, "an object of data settings") if data is not None else \
            fail("config.json", "has no \"data\" settings object")
    typ = f.choice(data, "type", "data.type", DATA_TYPES)
    if typ == "example":
        f.text(data, "example", "data.example", "the name of a built-in example")
        for key in ("overrides", "settings"):
            v = data.get(key, {})
            if not isinstance(v, dict) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool)
                                                   for x in v.values()):
                raise f.fail(f"data.{key}", v, "an object of the example's settings (numbers and texts)")
        return data
    if typ == "arrays":
        return data
    f.text(data, "source", "data.source", "the path of a data file")
    f.int(data, "seq_len", "data.seq_len", 1, BY_DEST["seq_len"].high)
    f.number(data, "val_fraction", "data.val_fraction", 0, 0.9)
    f.bool(data, "seq_len_chosen", "data.seq_len_chosen")
    if typ == "text":
        f.choice(data, "level", "data.level", LEVELS, required=strict)
        f.int(data, "stride", "data.stride", 1, required=strict)
        f.int(data, "vocab", "data.vocab", 2, BY_DEST["vocab"].high, required=False)
        return data
    cols = data.get("columns")
    if "columns" not in data:
        raise f.missing("data.columns")
    if not isinstance(cols, list) or not cols or not all(
            isinstance(c, str) or (is_int(c) and c >= 0) for c in cols):
        raise f.fail("data.columns", cols, "a list of column names")
    n = len(cols)
    target = f.int(data, "target", "data.target", 0, n - 1)
    f.choice(data, "missing", "data.missing", MISSING, required=strict)
    f.choice(data, "year_month", "data.year_month", YEAR_MONTH, required=False)
    f.text(data, "key", "data.key", "the name of the column that names the series, or none", required=False)
    method = f.choice(data, "normalize", "data.normalize", NORMALIZE_METHODS, required=strict)
    norm = f.obj(data, "normalizer", "data.normalizer", required=False)
    if norm is not None:
        check_normalizer(fail, norm, [str(c) for c in cols], target, method)
    return data


def check_normalizer(fail: Fail, norm: dict, columns: list, target: int, method: str | None) -> None:
    """``data.normalizer``: its method, one finite offset and one positive scale per column (within
    the data's limits), the target column's index."""
    f = _File(fail, "config.json")
    m = f.choice(norm, "method", "data.normalizer.method", NORMALIZE_METHODS)
    if method is not None and m != method:
        raise fail("config.json", f"has data.normalizer.method = {show(m)} where data.normalize says {show(method)}")
    n = len(columns)
    for key in ("offset", "scale"):
        if key not in norm:
            raise f.missing(f"data.normalizer.{key}")
        v = norm[key]
        if not isinstance(v, list) or len(v) != n:
            count = f"{len(v)} values" if isinstance(v, list) else show(v)
            raise fail("config.json", f"has data.normalizer.{key} = {count} where data.columns names {n} "
                       f"column{'s' if n != 1 else ''}")
        for j, x in enumerate(v):
            col = safe_name(repr(columns[j]))
            if key == "offset":
                ok = is_number(x) and abs(x) <= MAX_ABS_DATA
                what = f"a finite number from -{MAX_ABS_DATA:g} to {MAX_ABS_DATA:g}"
            else:
                ok = is_number(x) and 0 < x <= 2 * MAX_ABS_DATA
                what = f"a finite number greater than 0 and at most {2 * MAX_ABS_DATA:g}"
            if not ok:
                raise fail("config.json", f"has data.normalizer.{key} = {show(x)} for column {col}, not {what}")
            if m == "none" and x != (0 if key == "offset" else 1):
                raise fail("config.json", f"has data.normalizer.{key} = {show(x)} for column {col}, where the "
                           f"method none has {key} {0 if key == 'offset' else 1}")
    ti = norm.get("target_index", 0)
    if not is_int(ti) or ti != target:
        raise f.fail("data.normalizer.target_index", ti, f"{target} (data.target)")


# -- state.json ----------------------------------------------------------------------------------
def check_state(fail: Fail, state: dict, strict: bool = False, present=()) -> dict:
    """state.json: epoch, step, epoch_step, epochs, seed (whole numbers in range), the rng_state
    object (NumPy's bit-generator state: every number a non-negative JSON integer in its range;
    restorability is checked by the caller) and the ``sha256`` block. ``strict`` (a folder of this
    format): format, epochs, seed and a ``sha256`` of every file in ``present`` are required."""
    f = _File(fail, "state.json")
    if strict or "format" in state:
        f.int(state, "format", "format", HASHED_FROM, FORMAT)
        if state["format"] >= 4 and "step_chunks" not in state:
            raise f.missing("step_chunks")
        if state["format"] >= 5 and "epoch_files" not in state:
            raise f.missing("epoch_files")
    _check_epoch_files(fail, state)
    for key in ("epoch", "step", "epoch_step"):
        f.int(state, key, key, 0)
    f.int(state, "epochs", "epochs", 0, required=strict)
    f.int(state, "seed", "seed", 0, 2**32 - 1, required=strict)
    check_rng_state(fail, state.get("rng_state"))
    if strict and "sha256" not in state:
        raise f.missing("sha256")
    digests = state.get("sha256", {})
    if not (isinstance(digests, dict) and all(_hashed(n) for n in digests) and all(
            isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v)
            for v in digests.values())):
        raise f.fail("sha256", digests, "the SHA-256 of the run's files")
    if strict:
        lacking = [n for n in present if _hashed(n) and n not in digests]
        if lacking:
            raise f.missing(f"sha256.{lacking[0]}")
    if state["step"] < state["epoch_step"]:
        raise fail("state.json", f"has epoch_step = {state['epoch_step']} beyond step = {state['step']}")
    return state


def _hashed(name: str) -> bool:
    """Whether state.json's ``sha256`` block covers a file of this name."""
    return name in HASHED_FILES or bool(CHUNK_NAME.fullmatch(name) or EPOCH_NAME.fullmatch(name))


def _check_epoch_files(fail: Fail, state: dict) -> None:
    """state.json's ``epoch_files`` (format 5, optional before): the kept epochs' file names
    (``epoch-NNNNNN.npz``), epochs ascending."""
    if "epoch_files" not in state:
        return
    names = state["epoch_files"]
    epochs = [int(m.group(1)) if isinstance(n, str) and (m := EPOCH_NAME.fullmatch(n)) else None
              for n in names] if isinstance(names, list) else [None]
    if None in epochs or any(epoch_file_name(e) != n for e, n in zip(epochs, names)) or any(
            b <= a for a, b in zip(epochs, epochs[1:])):
        raise fail("state.json", f"has epoch_files = {show(names)}, not a list of epoch files (epoch-NNNNNN.npz) "
                   "in ascending order")


#: The ranges of the numbers of NumPy's bit generators' states (PCG64's 128-bit state and
#: increment, its buffered 32-bit integer and the 0/1 flag saying whether it holds one).
_RNG_RANGES = {"has_uint32": 1, "uinteger": 2**32 - 1}


def check_rng_state(fail: Fail, rng) -> None:
    """state.json's ``rng_state``: an object naming its bit generator, every number in it a JSON
    integer (not 2.5, not true) of at least 0 and within its range."""
    def bad(path, v, what):
        return fail("state.json", f"has {path} = {show(v)}, not {what}")

    if not isinstance(rng, dict) or not isinstance(rng.get("bit_generator"), str):
        raise fail("state.json", "holds a random generator state (rng_state) that cannot be restored")
    limit = 2**128 - 1 if rng["bit_generator"] in ("PCG64", "PCG64DXSM") else 2**256

    def walk(d, path):
        for k, v in d.items():
            p = f"{path}.{k}"
            if k == "bit_generator" and path == "rng_state":
                continue
            if isinstance(v, dict):
                walk(v, p)
                continue
            if isinstance(v, list):
                if not all(is_int(x) and 0 <= x <= 2**64 for x in v):
                    raise bad(p, v, "a list of whole numbers of at least 0")
                continue
            high = _RNG_RANGES.get(k, limit) if path == "rng_state" else limit
            if not is_int(v) or v < 0 or v > high:
                raise bad(p, v, f"a whole number from 0 to {high if high < 2**33 else '2^' + str(high.bit_length())}")

    walk(rng, "rng_state")


def check_state_against_config(fail: Fail, state: dict, cfg: dict, settings: dict) -> None:
    """state.json and config.json written by one save agree on the epochs and steps."""
    trained = cfg.get("trained")
    if isinstance(trained, dict):
        for key, skey in (("epochs", "epoch"), ("steps", "step")):
            if trained[key] != state[skey]:
                raise fail("config.json", f"has trained.{key} = {trained[key]} where state.json says "
                           f"{skey} = {state[skey]} (the files come from different saves)")
    if "epochs" in state and "epochs" in settings and state["epochs"] != settings["epochs"]:
        raise fail("config.json", f"has model.epochs = {settings['epochs']} where state.json says epochs = "
                   f"{state['epochs']} (the files come from different saves)")
    if "seed" in state and "seed" in settings and state["seed"] != settings["seed"]:
        raise fail("config.json", f"has model.seed = {settings['seed']} where state.json says seed = "
                   f"{state['seed']} (the files come from different saves)")


__all__ = ["FORMAT", "HASHED_FROM", "HASHED_FILES", "is_current_format", "check_replay", "check_rng_state", "check_config", "check_data", "check_model_settings", "check_normalizer", "check_state",
           "check_state_against_config", "MAX_ABS_DATA", "show", "is_int", "is_number"]
