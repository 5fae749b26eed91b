"""Another process holding a run folder's writer lock, for the tests that check a second writer
is refused."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_HOLD = "import sys\nfrom explorer.runs.folder import WriterLock\nlock = WriterLock({folder!r})\n" \
        "print('held', flush=True)\nsys.stdin.read()"


@contextmanager
def lock_held_elsewhere(folder):
    """Inside the block another process holds ``folder``'s :class:`WriterLock`; yields its pid."""
    holder = subprocess.Popen([sys.executable, "-c", _HOLD.format(folder=str(folder))],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
    ready = []
    try:
        ready, _, _ = select.select([holder.stdout], [], [], 60)   # a child stuck before holding it
        assert ready, "the lock holder did not start within 60 s"   # fails the test, never hangs it
        assert holder.stdout.readline().strip() == "held"
        yield holder.pid
    finally:
        holder.stdin.close()
        if not ready:
            holder.kill()
        holder.wait(timeout=30)
        holder.stdout.close()
