"""The memory budget: a limit from the machine (or the environment) and one sentence above it."""

import pytest

from explorer.util.ram import MemoryBudgetError, check_budget, format_bytes, memory_limit_bytes


def test_limit_from_environment(monkeypatch):
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "2G")
    assert memory_limit_bytes() == 2 * 1024**3
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "1048576")
    assert memory_limit_bytes() == 1048576


def test_refusal_names_need_limit_and_advice(monkeypatch):
    monkeypatch.setenv("LSTM_EXPLORER_MEMORY_LIMIT", "1M")
    check_budget(1024**2, "loading x", "use less")          # at the limit: allowed
    with pytest.raises(MemoryBudgetError) as e:
        check_budget(3 * 1024**3, "training 100000 units", "use fewer units")
    msg = str(e.value)
    assert msg == ("training 100000 units needs about 3.0 GiB of memory, more than the 1.0 MiB "
                   "this machine allows; use fewer units.")
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(12) == "12 bytes"
