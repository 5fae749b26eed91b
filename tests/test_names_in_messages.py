"""A column's name is printed whole in every message: a "/" in it (``km/h``) is part of the name, not
a path to cut at."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explorer.app.ingest import load_dataset
from explorer.data.errors import SequenceFileError, safe_name, safe_text

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def slash_csv(tmp_path):
    path = tmp_path / "speeds.csv"
    rows = "".join(f"x{i},{np.sin(i / 5):.6f},{i},\n" for i in range(60))
    path.write_text("date,km/h,a/b/c,m/s²\n" + rows)
    return path


def refusal(path, **options):
    with pytest.raises(SequenceFileError) as err:
        load_dataset(str(path), **options)
    return str(err.value)


def test_safe_text_keeps_a_name_whole_and_escapes_control_characters():
    assert safe_text("km/h") == "km/h" and safe_name("km/h") == "h"
    assert safe_text("a/\x1b[2J/b") == "a/\\x1b[2J/b"


def test_column_names_with_slashes_are_whole_in_every_refusal(slash_csv):
    assert refusal(slash_csv, columns=["nope"]) == ("The file speeds.csv has no column named 'nope'; its columns "
                                                    "are 'date', 'km/h', 'a/b/c', 'm/s²'.")
    assert refusal(slash_csv, columns=["km/h"], target="a/b/c/d") == (
        "The target 'a/b/c/d' is not among the chosen columns of speeds.csv ('km/h'); choose one of them.")
    assert refusal(slash_csv, columns=["km/h", "km/h"]) == ("Column 'km/h' of speeds.csv was chosen twice; choose "
                                                            "each column once.")
    assert refusal(slash_csv, columns=["m/s²"]) == ("Column 'm/s²' of speeds.csv has no values (all missing); "
                                                    "choose another column.")


def test_the_command_line_prints_the_whole_name(slash_csv, tmp_path):
    p = subprocess.run([sys.executable, "-m", "explorer", "train", slash_csv, "--column", "km/h", "--target", "x/y",
                        "--units", "2", "--epochs", "1", "--no-plots", "--out", tmp_path / "run"],
                       capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert p.returncode == 2
    assert p.stderr == ("lstm-explorer: The target 'x/y' is not among the chosen columns of speeds.csv ('km/h'); "
                        "choose one of them.\n")
