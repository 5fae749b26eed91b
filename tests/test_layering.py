"""The layers: the import-linter contracts in pyproject.toml (run here) hold — each package imports
only the layers below it (command line > window > figures > app > interop > runs > engine | data >
utilities) and nothing below figures imports Qt —, the contract names every package, no module is
left loose at the package root, and importing the Qt-free layers leaves PySide6 out of ``sys.modules``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QT_FREE = ("app", "interop", "runs", "engine", "data", "util")


def _contracts():
    try:
        import tomllib
    except ModuleNotFoundError:                      # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def test_import_linter_contracts_hold():
    pytest.importorskip("importlinter")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Contracts: 2 kept, 0 broken" in r.stdout


def test_the_layers_name_every_package_and_no_module_is_loose():
    contracts = {c["type"]: c for c in _contracts()}
    layers = contracts["layers"]["layers"]
    named = [p.strip() for layer in layers for p in layer.split("|")]
    assert named == ["bench", "cli", "gui", "figures", "app", "interop", "runs", "engine", "data", "util"]
    packages = sorted(p.parent.name for p in (ROOT / "explorer").glob("*/__init__.py"))
    assert sorted(named) == packages
    assert sorted(p.name for p in (ROOT / "explorer").glob("*.py")) == ["__init__.py", "__main__.py"]
    qt = contracts["forbidden"]
    assert sorted(qt["source_modules"]) == sorted(f"explorer.{p}" for p in QT_FREE)
    assert set(qt["forbidden_modules"]) == {"PySide6", "pyqtgraph", "shiboken6"}
    assert qt["allow_indirect_imports"] is False


def test_importing_the_qt_free_layers_loads_no_qt():
    mods = ", ".join(["explorer.engine", "explorer.data", "explorer.app", "explorer.app.tasks", "explorer.app.ingest",
                      "explorer.app.compare", "explorer.app.teaching", "explorer.interop", "explorer.runs.store",
                      "explorer.util.ram", "explorer.util.assets", "explorer.util.threads"])
    code = (f"import sys, {mods}; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'shiboken6')); print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
