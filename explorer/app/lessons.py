"""Lessons: an ordered list of views a teacher steps through, in one small JSON file.

A lesson file is human-readable JSON and holds no code::

    {"lesson": 1,
     "title": "Why the forget gate keeps memory",
     "views": [
       {"example": "adding", "cell": "lstm", "sample": 0, "t": 24, "unit": 3,
        "hold": [{"gate": "f", "value": 1.0, "units": [3], "steps": [10, 30]}],
        "tab": "Memory", "caption": "Hold the forget gate at 1: the belt keeps what was written."}]}

Every view names one source — ``example`` (a built-in example), ``file`` (a data file) or ``run``
(a run folder); ``file`` and ``run`` are paths *relative to the lesson file's folder* that stay
inside it — and optionally ``cell`` (rnn, gru, lstm, peephole; examples only), the position
(``sample``, ``t`` (0-based), ``unit``, ``layer``, ``direction``), ``hold`` (interventions: a gate
or ``h`` held at a value, for ``units`` (a list, default all) and ``steps`` ([first, stop), default
all)), ``replay_epoch`` (an epoch of a run's replay), ``tab`` (the dock on top: a plot's title),
``backward`` (the backward pass shown) and ``caption`` (a sentence or two, at most 400
characters). Anything else — an unknown key, a wrong type, a path that leaves the folder, a file
over 64 KB or over 100 views — is refused with one sentence (:class:`LessonError`).
"""

from __future__ import annotations

import json
import math
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath

FORMAT = 1
MAX_BYTES = 64 * 1024
MAX_VIEWS = 100
MAX_CAPTION = 400
MAX_HOLDS = 16
CELLS = ("rnn", "gru", "lstm", "peephole")
HOLD_NAMES = ("i", "f", "g", "o", "r", "z", "h")
SOURCES = ("example", "file", "run")
VIEW_KEYS = {"example", "file", "run", "cell", "sample", "t", "unit", "layer", "direction", "hold",
             "replay_epoch", "tab", "backward", "caption"}
HOLD_KEYS = {"gate", "value", "units", "steps"}
TOP_KEYS = {"lesson", "title", "views"}


class LessonError(ValueError):
    """A lesson that cannot be used, in one sentence naming the file and what to do."""


@dataclass(frozen=True)
class Hold:
    """``gate`` (or ``"h"``) held at ``value`` for ``units`` (None: all) at steps [first, stop)."""

    gate: str
    value: float
    units: tuple | None = None
    steps: tuple | None = None

    def to_dict(self) -> dict:
        d = {"gate": self.gate, "value": self.value}
        if self.units is not None:
            d["units"] = list(self.units)
        if self.steps is not None:
            d["steps"] = list(self.steps)
        return d


@dataclass(frozen=True)
class LessonView:
    """One view of a lesson (see the module docstring); ``source`` is ``(kind, value)``."""

    source: tuple
    cell: str | None = None
    sample: int = 0
    t: int = 0
    unit: int = 0
    layer: int = 0
    direction: int = 0
    hold: tuple = ()
    replay_epoch: int | None = None
    tab: str | None = None
    backward: bool = False
    caption: str = ""

    def to_dict(self) -> dict:
        d = {self.source[0]: self.source[1]}
        if self.cell is not None:
            d["cell"] = self.cell
        for key in ("sample", "t", "unit", "layer", "direction"):
            d[key] = getattr(self, key)
        if self.hold:
            d["hold"] = [h.to_dict() for h in self.hold]
        if self.replay_epoch is not None:
            d["replay_epoch"] = self.replay_epoch
        if self.tab is not None:
            d["tab"] = self.tab
        if self.backward:
            d["backward"] = True
        if self.caption:
            d["caption"] = self.caption
        return d


@dataclass(frozen=True)
class Lesson:
    """A title and its views; ``folder`` is where ``file`` and ``run`` paths are resolved."""

    title: str
    views: tuple
    folder: Path | None = None
    name: str = field(default="lesson", compare=False)

    def to_json(self) -> str:
        return json.dumps({"lesson": FORMAT, "title": self.title,
                           "views": [v.to_dict() for v in self.views]}, indent=1, ensure_ascii=False) + "\n"

    def path_of(self, view: LessonView) -> Path | None:
        """The absolute path of a view's ``file`` or ``run`` (None for an example)."""
        kind, value = view.source
        if kind == "example":
            return None
        return (self.folder or Path.cwd()) / value


def _fail(where: str, what: str) -> LessonError:
    return LessonError(f"{where} {what}")


def _int(v, key: str, where: str, low: int = 0, high: int = 10**9) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
        raise _fail(where, f"has {key} = {v!r}; {key} is a whole number from {low} to {high}.")
    return v


def _relative(v, key: str, where: str) -> str:
    if not isinstance(v, str) or not v or len(v) > 1024 or "\x00" in v:
        raise _fail(where, f"has {key} = {v!r}; give a path relative to the lesson's folder.")
    for flavour in (PurePosixPath(v), PureWindowsPath(v)):
        if flavour.is_absolute() or flavour.drive or ".." in flavour.parts:
            raise _fail(where, f"has {key} {v!r}, which leaves the lesson's folder; keep the lesson's "
                               "files beside it and name them relative to it.")
    return v


def _hold(raw, where: str) -> Hold:
    if not isinstance(raw, dict):
        raise _fail(where, "has a hold that is not an object; write {\"gate\": \"f\", \"value\": 1.0}.")
    unknown = set(raw) - HOLD_KEYS
    if unknown:
        raise _fail(where, f"has a hold with the unknown key {sorted(unknown)[0]!r}; a hold has "
                           "gate, value, units and steps.")
    gate = raw.get("gate")
    if gate not in HOLD_NAMES:
        raise _fail(where, f"holds {gate!r}; hold one of {', '.join(HOLD_NAMES)}.")
    value = raw.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or abs(value) > 1e6:
        raise _fail(where, f"holds {gate} at {value!r}; give a finite number.")
    units = raw.get("units")
    if units is not None:
        if not isinstance(units, list) or not units or len(units) > 4096:
            raise _fail(where, f"holds {gate} for units {units!r}; give a list of unit numbers.")
        units = tuple(_int(u, "a unit", where, 0, 1 << 20) for u in units)
    steps = raw.get("steps")
    if steps is not None:
        if not isinstance(steps, list) or len(steps) != 2:
            raise _fail(where, f"holds {gate} for steps {steps!r}; give [first, stop).")
        a, b = (_int(s, "a step", where, 0, 1 << 24) for s in steps)
        if b <= a:
            raise _fail(where, f"holds {gate} for steps [{a}, {b}), which is empty; give first < stop.")
        steps = (a, b)
    return Hold(gate, float(value), units, steps)


def _view(raw, where: str) -> LessonView:
    if not isinstance(raw, dict):
        raise _fail(where, "is not an object; a view is {\"example\": \"adding\", …}.")
    unknown = set(raw) - VIEW_KEYS
    if unknown:
        raise _fail(where, f"has the unknown key {sorted(unknown)[0]!r}; a view has "
                           f"{', '.join(sorted(VIEW_KEYS))}.")
    named = [k for k in SOURCES if k in raw]
    if len(named) != 1:
        raise _fail(where, "names " + ("no source" if not named else "more than one source")
                    + "; give exactly one of example, file or run.")
    kind = named[0]
    value = raw[kind]
    if kind == "example":
        from explorer.data.examples import list_examples

        names = [n for n, _ in list_examples()]
        if value not in names:
            raise _fail(where, f"opens the example {value!r}, which is not built in; choose one of "
                               f"{', '.join(names)}.")
    else:
        value = _relative(value, kind, where)
    cell = raw.get("cell")
    if cell is not None and cell not in CELLS:
        raise _fail(where, f"has cell {cell!r}; choose one of {', '.join(CELLS)}.")
    if cell is not None and kind != "example":
        raise _fail(where, f"sets the cell of a {kind}; a {kind} keeps its own cell, so leave cell out.")
    holds = raw.get("hold", [])
    if not isinstance(holds, list) or len(holds) > MAX_HOLDS:
        raise _fail(where, f"has hold = {holds!r:.60}; give a list of at most {MAX_HOLDS} holds.")
    epoch = raw.get("replay_epoch")
    tab = raw.get("tab")
    if tab is not None and (not isinstance(tab, str) or not 0 < len(tab) <= 60):
        raise _fail(where, f"has tab = {tab!r:.60}; give a plot's title, e.g. \"Loss\".")
    backward = raw.get("backward", False)
    if not isinstance(backward, bool):
        raise _fail(where, f"has backward = {backward!r:.60}; give true or false.")
    caption = raw.get("caption", "")
    if not isinstance(caption, str) or len(caption) > MAX_CAPTION:
        raise _fail(where, f"has a caption that is not text of at most {MAX_CAPTION} characters; "
                           "shorten it to a sentence or two.")
    return LessonView(
        source=(kind, value), cell=cell,
        sample=_int(raw.get("sample", 0), "sample", where, 0, 1 << 31),
        t=_int(raw.get("t", 0), "t", where, 0, 1 << 31),
        unit=_int(raw.get("unit", 0), "unit", where, 0, 1 << 20),
        layer=_int(raw.get("layer", 0), "layer", where, 0, 64),
        direction=_int(raw.get("direction", 0), "direction", where, 0, 1),
        hold=tuple(_hold(h, where) for h in holds),
        replay_epoch=None if epoch is None else _int(epoch, "replay_epoch", where, 0, 1 << 24),
        tab=tab, backward=backward, caption=caption)


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number JSON allows")


def parse_lesson(text: str, name: str = "lesson", folder: Path | None = None) -> Lesson:
    """A :class:`Lesson` from the JSON ``text`` of the file ``name``, or :class:`LessonError`."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise LessonError(f"{name} is larger than {MAX_BYTES // 1024} KB; a lesson is a short list of views.")
    try:
        raw = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise LessonError(f"{name} nests too deeply to be a lesson; write it as in the README.") from None
    except ValueError as exc:
        raise LessonError(f"{name} is not valid JSON ({str(exc).split(':')[0]}); write it as in the "
                          "README's lesson example.") from None
    if not isinstance(raw, dict):
        raise LessonError(f"{name} is not a lesson: it must be a JSON object with title and views.")
    unknown = set(raw) - TOP_KEYS
    if unknown:
        raise LessonError(f"{name} has the unknown key {sorted(unknown)[0]!r}; a lesson has lesson, title "
                          "and views.")
    if raw.get("lesson", FORMAT) != FORMAT:
        raise LessonError(f"{name} is a lesson of format {raw.get('lesson')!r:.20}; this version reads "
                          f"format {FORMAT}.")
    title = raw.get("title", "")
    if not isinstance(title, str) or len(title) > 200:
        raise LessonError(f"{name}: the title must be text of at most 200 characters.")
    views = raw.get("views")
    if not isinstance(views, list) or not views or len(views) > MAX_VIEWS:
        raise LessonError(f"{name} must have views: a list of 1 to {MAX_VIEWS} views.")
    parsed = tuple(_view(v, f"{name}: view {k + 1}") for k, v in enumerate(views))
    return Lesson(title or name, parsed, folder, name)


def load_lesson(path) -> Lesson:
    """Read and check the lesson file ``path`` (a regular file, at most 64 KB)."""
    path = Path(path)
    name = path.name
    try:
        st = os.stat(path)
    except OSError as exc:
        raise LessonError(f"Could not open the lesson {name}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(st.st_mode):
        raise LessonError(f"{name} is not a regular file; give a lesson's .json file.")
    if st.st_size > MAX_BYTES:
        raise LessonError(f"{name} is larger than {MAX_BYTES // 1024} KB; a lesson is a short list of views.")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise LessonError(f"{name} is not UTF-8 text; save the lesson as UTF-8 JSON.") from None
    except OSError as exc:
        raise LessonError(f"Could not read the lesson {name}: {exc.strerror or exc}.") from None
    return parse_lesson(text, name, path.resolve().parent)


def save_lesson(lesson: Lesson, path) -> Path:
    """Write ``lesson`` as JSON to ``path`` (atomically: a temporary file, then a rename)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "x", encoding="utf-8") as fh:
            fh.write(lesson.to_json())
        os.replace(tmp, path)
    finally:
        if tmp.exists() and not tmp.is_symlink():
            tmp.unlink()
    return path


def builtin_lessons() -> list:
    """``[(name, Lesson)]`` of the lessons that ship with the product (resources/lessons)."""
    from explorer.util.assets import resource_path

    folder = Path(resource_path("lessons"))
    return [(p.stem, load_lesson(p)) for p in sorted(folder.glob("*.json"))]
