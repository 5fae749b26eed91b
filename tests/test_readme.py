"""README is the contract reviewers start from: its example runs as written, its commands exist."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_engine_example_runs_as_written(capsys):
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "README has no python example"
    exec(compile(blocks[0], "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "(4, 15, 8) (4, 15, 32) (4, 15, 1)" in out
    assert "ParamCount(layer=320, head=9, total=329, layers=(320,))" in out


def test_deep_example_runs_as_written(capsys):
    block = next(b for b in re.findall(r"```python\n(.*?)```", README, re.S) if "num_layers=2" in b)
    exec(compile(block, "README.md", "exec"), {})
    assert "ParamCount(layer=8832, head=66, total=8898, layers=(2560, 6272))" in capsys.readouterr().out


def test_exactly_two_setup_commands_and_make_targets_exist():
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", README, re.S).group(1)
    cmds = [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]
    assert cmds == ["make run", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^run:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
