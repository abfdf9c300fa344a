#!/usr/bin/env python3
"""Two or more commands timed side by side: run alternately (A B A B ...), whole process.

    python3 benchmarks/side_by_side.py --runs 5 \\
        --cmd before "cd ../wt-main && .venv/bin/python -m edge read DIR" \\
        --cmd after  "python -m edge read DIR --workers 2"

For each command: the median wall seconds of its runs (and every run), the largest peak RSS
of its process tree's biggest process (GNU time's %M) and of the whole tree (VmRSS of every
process summed, sampled every 20 ms), and whether its standard output was
the same every run and the same as the first command's. `--per N` also prints seconds / N
(ms per photo of a folder of N photos). `--json-ignore KEY` drops KEY from every JSON line
before outputs are compared (e.g. `ms`, the per-photo timings of `edge read`). The machine's
load average is printed before and after, as the figures only mean something beside it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time


def _strip(obj, keys):
    if isinstance(obj, dict):
        return {k: _strip(v, keys) for k, v in obj.items() if k not in keys}
    if isinstance(obj, list):
        return [_strip(v, keys) for v in obj]
    return obj


def _digest(out: str, ignore: set[str]) -> str:
    if ignore:
        lines = []
        for line in out.splitlines():
            try:
                lines.append(json.dumps(_strip(json.loads(line), ignore), sort_keys=True))
            except ValueError:
                lines.append(line)
        out = "\n".join(lines)
    return hashlib.sha256(out.encode()).hexdigest()[:12]


def _tree_rss_kb(root: int) -> int:
    """VmRSS summed over `root` and all its descendants (shared pages counted in each)."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                fields = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError:
            continue
        pid = int(entry)
        parent[pid] = int(fields.get("PPid", "0").strip())
        rss[pid] = int(fields.get("VmRSS", "0 kB").split()[0])
    tree, grew = {root}, True
    while grew:
        more = {pid for pid, pp in parent.items() if pp in tree} - tree
        grew = bool(more)
        tree |= more
    return sum(rss.get(pid, 0) for pid in tree)


def run_once(cmd: str) -> tuple[float, float, float, str, int]:
    """(seconds, GNU time's peak of the biggest process MB, peak of the whole tree MB sampled
    every 20 ms, stdout, exit status)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(["/usr/bin/time", "-f", "__RSS_KB %M", "bash", "-c", cmd],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            peak[0] = max(peak[0], _tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    seconds = time.perf_counter() - t0
    done.set()
    sampler.join()
    rss = [line for line in err.splitlines() if line.startswith("__RSS_KB ")]
    kb = float(rss[-1].split()[1]) if rss else float("nan")
    return seconds, kb / 1024.0, peak[0] / 1024.0, out, proc.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cmd", nargs=2, action="append", metavar=("LABEL", "COMMAND"), required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--per", type=int, default=0, help="also print ms per item for N items")
    ap.add_argument("--json-ignore", action="append", default=[], metavar="KEY")
    ap.add_argument("--warm", action="store_true", help="one untimed run of each first (disk cache)")
    args = ap.parse_args()
    ignore = set(args.json_ignore)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    if args.warm:
        for _, cmd in args.cmd:
            run_once(cmd)
    results: dict[str, dict] = {label: {"s": [], "rss": [], "tree": [], "out": set(), "rc": set()}
                                for label, _ in args.cmd}
    for i in range(args.runs):
        for label, cmd in args.cmd:
            s, mb, tree_mb, out, rc = run_once(cmd)
            r = results[label]
            r["s"].append(s)
            r["rss"].append(mb)
            r["tree"].append(tree_mb)
            r["out"].add(_digest(out, ignore))
            r["rc"].add(rc)
            print(f"  run {i + 1} {label:<12} {s:7.3f} s  {mb:6.0f} MB  tree {tree_mb:6.0f} MB  rc {rc}", flush=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    first = None
    base = None
    for label, _ in args.cmd:
        r = results[label]
        med = statistics.median(r["s"])
        base = base or med
        same = len(r["out"]) == 1
        first = first or r["out"]
        per = f"  {med * 1e3 / args.per:6.1f} ms/item" if args.per else ""
        print(f"{label:<12} median {med:7.3f} s{per}  x{base / med:4.2f} vs first  "
              f"runs {', '.join(f'{v:.2f}' for v in r['s'])}  peak {max(r['rss']):.0f} MB  tree {max(r['tree']):.0f} MB  "
              f"output {'stable' if same else 'VARIES'} {'same as first' if r['out'] == first else 'DIFFERS'}"
              f" {sorted(r['out'])[0]}  rc {sorted(r['rc'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
