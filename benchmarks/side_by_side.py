#!/usr/bin/env python3
"""Two or more commands timed side by side: run alternately (A B A B ...), whole process.

    python3 benchmarks/side_by_side.py --runs 5 \\
        --cmd before "cd ../wt-main && .venv/bin/python -m edge read DIR" \\
        --cmd after  "python -m edge read DIR --workers 2"

For each command: the median wall seconds of its runs (and every run), the largest peak RSS
of its process tree's biggest process (GNU time's %M), and whether its standard output was
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


def run_once(cmd: str) -> tuple[float, float, str, int]:
    t0 = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-f", "__RSS_KB %M", "bash", "-c", cmd],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    rss = [line for line in proc.stderr.splitlines() if line.startswith("__RSS_KB ")]
    kb = float(rss[-1].split()[1]) if rss else float("nan")
    return seconds, kb / 1024.0, proc.stdout, proc.returncode


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
    results: dict[str, dict] = {label: {"s": [], "rss": [], "out": set(), "rc": set()} for label, _ in args.cmd}
    for i in range(args.runs):
        for label, cmd in args.cmd:
            s, mb, out, rc = run_once(cmd)
            r = results[label]
            r["s"].append(s)
            r["rss"].append(mb)
            r["out"].add(_digest(out, ignore))
            r["rc"].add(rc)
            print(f"  run {i + 1} {label:<12} {s:7.3f} s  {mb:6.0f} MB  rc {rc}", flush=True)
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
              f"runs {', '.join(f'{v:.2f}' for v in r['s'])}  peak {max(r['rss']):.0f} MB  "
              f"output {'stable' if same else 'VARIES'} {'same as first' if r['out'] == first else 'DIFFERS'}"
              f" {sorted(r['out'])[0]}  rc {sorted(r['rc'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
