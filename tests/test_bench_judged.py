"""The cost cases of ``python -m explorer.bench --scale`` at tiny sizes: each runs its commands in
fresh processes and reads back real numbers (the sizes of the benchmark itself are not tested)."""

import re

import pytest

from explorer.bench import judged


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(judged.BATCHMEM, False, (40, 8, 2, 300, 3))
    monkeypatch.setitem(judged.OPEN_STEPS, False, (60, 240))
    monkeypatch.setitem(judged.WORDS_MB, False, (0.01, 0.02))
    monkeypatch.setitem(judged.ANIMATE_T, False, (4, 8))


def test_the_cost_cases_measure_their_commands(tiny, tmp_path):
    said = []
    results = judged.run_cases(judged.RUNNERS, tmp_path, False, said.append)
    assert [r.failed for r in results] == [""] * 7
    by = {}
    for r in results:
        by.setdefault(r.case, []).append(r)
    mem = by["batchmem"][0]
    peak, need = map(float, re.match(r"peak traced ([0-9.]+) MB / a training step's need ([0-9.]+) MB",
                                     mem.measure).groups())
    assert mem.ratio > 0 and 0 < peak < 40                 # evaluation's floor: EVAL_BYTES (32 MiB)
    assert [r.size for r in by["open"]] == ["60 steps", "240 steps"]         # read back from Run.load
    assert by["open"][0].ratio == 1.0 and by["open"][1].rss_mb > 20
    assert [r.size.split(",")[0] for r in by["words"]] == ["0.01 MB prose", "0.02 MB prose"]
    assert all(r.seconds >= 0 and "checkpoint" in r.measure for r in by["words"])   # tiny: may print 0.0 s
    assert [r.size for r in by["animate"]] == ["T = 4 GIF", "T = 8 GIF"]
    assert (tmp_path / "animate-8.gif").read_bytes()[:6] == b"GIF89a"
    assert len(said) == 7 and all(s.split(":")[0] in judged.RUNNERS for s in said)
    table = judged.summarize(results)
    assert table.splitlines()[0].split() == ["case", "size", "seconds", "RSS", "ratio", "what", "the", "ratio", "is"]
    assert len(judged.markdown(results).splitlines()) == 2 + 7


def test_a_case_whose_input_cannot_be_made_is_one_row(monkeypatch, tmp_path):
    monkeypatch.setitem(judged.ANIMATE_T, False, (1,))           # a window of 1 cannot be animated: refused
    results = judged.run_cases(["animate"], tmp_path, False, lambda s: None)
    assert len(results) == 1 and results[0].failed
    assert "failed" in judged.summarize(results)
