"""The layers: engine, data and app never import Qt or pyqtgraph (import-linter contract in
pyproject.toml, run here), and importing them leaves PySide6 out of ``sys.modules``."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_import_linter_contracts_hold():
    pytest.importorskip("importlinter")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = ("import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Contracts: 1 kept, 0 broken" in r.stdout


def test_importing_the_qt_free_layers_loads_no_qt():
    code = ("import sys, explorer.engine, explorer.data, explorer.app, explorer.app.tasks, explorer.app.loading, "
            "explorer.runs; bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('PySide6', 'pyqtgraph', 'shiboken6')); print(bad); sys.exit(1 if bad else 0)")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=dict(os.environ, PYTHONPATH=str(ROOT)),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
