"""`python -m bot cluster start` starts a node whose process is gone, also when the
killed process is still a zombie (not yet reaped by init): otherwise a node killed with
`kill -9` was taken for running and never started again."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.cluster import _read_pid


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_killed_but_unreaped_node_counts_as_stopped(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    pid_file = tmp_path / "node1.pid"
    pid_file.write_text(str(child.pid))
    assert _read_pid(pid_file) == child.pid  # running
    os.kill(child.pid, 9)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    try:
        assert _read_pid(pid_file) is None  # a zombie: dead, only not reaped yet
    finally:
        child.wait(timeout=10)
    assert _read_pid(pid_file) is None
