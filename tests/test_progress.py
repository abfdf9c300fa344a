"""Progress bars: shown on a terminal (a real pseudo-terminal from util-linux's `script`), never
in a pipe, and absent without tqdm."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from edge.progress import CounterBar, progress
from tests.helpers import REPO

VIDEO = REPO / "tests" / "fixtures" / "video" / "passes.mp4"


def test_edge_bench_shows_a_bar_on_a_terminal_and_none_in_a_pipe():
    pytest.importorskip("tqdm")
    script = shutil.which("script")
    if script is None:
        pytest.skip("`script` (util-linux) is not installed")
    cmd = f"{sys.executable} -m edge bench {VIDEO} --frames 200 --json"
    # a terminal of 100 columns (the pseudo-terminal `script` makes here has no size of its own)
    tty = subprocess.run([script, "-q", "-e", "-c", f"stty rows 30 cols 100; {cmd}", "/dev/null"], cwd=REPO,
                         capture_output=True, text=True, timeout=180)
    assert tty.returncode == 0, tty.stdout
    assert "bench:" in tty.stdout and "/200" in tty.stdout and "frame/s" in tty.stdout, tty.stdout[-500:]
    pipe = subprocess.run(cmd.split(), cwd=REPO, capture_output=True, text=True, timeout=180)
    assert pipe.returncode == 0 and "bench:" not in pipe.stderr and "frame/s" not in pipe.stderr


def test_without_a_terminal_the_helpers_pass_through():
    assert list(progress(range(3), desc="x")) == [0, 1, 2]  # pytest's stderr is no terminal
    with CounterBar(lambda: 1, desc="y") as bar:
        assert bar._bar is None
