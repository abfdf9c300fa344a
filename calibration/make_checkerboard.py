#!/usr/bin/env python3
"""Regenerate the printable checkerboards in this folder (same as `edge calibrate checkerboard`).

    python3 calibration/make_checkerboard.py
"""

from pathlib import Path

from edge.calibration import checkerboard

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    for writer, suffix in ((checkerboard.write_pdf, "pdf"), (checkerboard.write_svg, "svg")):
        path = writer(HERE / f"checkerboard_9x6_25mm.{suffix}", cols=9, rows=6, square_mm=25.0, page="A4")
        print(f"wrote {path}")
