"""Pack the TrueType/OpenType files the synthetic renderer uses here, for a machine that has none.

    python -m training.pack_fonts --out .gpu_data/fonts.tgz

`training/gpu_train.sh` unpacks it there and points EDGE_SYNTH_FONTS at it, so synthetic plates
are drawn with the same fonts as here (without them the renderer falls back to Hershey fonts).
"""

from __future__ import annotations

import argparse
import tarfile
from pathlib import Path

from edge.synth.fonts import _TTF_FILES, _font_files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    found = _font_files()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with tarfile.open(args.out, "w:gz") as tar:
        for names in _TTF_FILES.values():
            name = next((n for n in names if n in found), None)
            if name is not None:
                tar.add(found[name], arcname=f"fonts/{name}")
                n += 1
    print(f"{n} of {len(_TTF_FILES)} fonts -> {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
