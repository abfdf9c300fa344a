"""Printable checkerboards with an exact square size: vector PDF and SVG, raster PNG.

A board with C x R *inner* corners has (C+1) x (R+1) squares. The page carries a 100 mm scale
bar so the installer can check the print was not scaled ("fit to page" ruins calibration).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MM_PER_PT = 25.4 / 72.0
PAGES_MM = {"A4": (297.0, 210.0), "A3": (420.0, 297.0), "letter": (279.4, 215.9)}


def _layout(cols: int, rows: int, square_mm: float, page: str):
    if page not in PAGES_MM:
        raise ValueError(f"page {page!r}: expected one of {', '.join(PAGES_MM)}")
    pw, ph = PAGES_MM[page]  # landscape
    bw, bh = (cols + 1) * square_mm, (rows + 1) * square_mm
    if bw > pw - 20 or bh > ph - 30:
        raise ValueError(f"a {cols}x{rows} board of {square_mm} mm squares ({bw:.0f}x{bh:.0f} mm) "
                         f"does not fit on {page} with margins; use smaller squares or a bigger page")
    x0 = (pw - bw) / 2.0
    y0 = (ph - bh) / 2.0 - 5.0  # leave room for the caption and the scale bar below
    squares = [(x0 + c * square_mm, y0 + r * square_mm)
               for r in range(rows + 1) for c in range(cols + 1) if (r + c) % 2 == 0]
    caption = (f"Checkerboard {cols}x{rows} inner corners, {square_mm:g} mm squares. "
               "Print at 100% (no fit-to-page); the bar below must measure 100 mm. Mount flat and rigid.")
    bar = (x0, y0 + bh + 8.0, 100.0, 2.0)  # x, y, w, h in mm
    return (pw, ph), squares, caption, bar


def write_svg(path: str | Path, cols: int = 9, rows: int = 6, square_mm: float = 25.0, page: str = "A4") -> Path:
    (pw, ph), squares, caption, (bx, by, bw, bh) = _layout(cols, rows, square_mm, page)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{pw}mm" height="{ph}mm" viewBox="0 0 {pw} {ph}">',
             f'<rect x="0" y="0" width="{pw}" height="{ph}" fill="#fff"/>']
    parts += [f'<rect x="{x:.3f}" y="{y:.3f}" width="{square_mm}" height="{square_mm}" fill="#000"/>'
              for x, y in squares]
    parts.append(f'<rect x="{bx}" y="{by}" width="{bw}" height="{bh}" fill="#000"/>')
    parts.append(f'<text x="{bx}" y="{by + bh + 5}" font-family="Helvetica, Arial, sans-serif" '
                 f'font-size="3.2">{caption}</text>')
    parts.append("</svg>\n")
    p = Path(path)
    p.write_text("\n".join(parts), encoding="utf-8")
    return p


def write_pdf(path: str | Path, cols: int = 9, rows: int = 6, square_mm: float = 25.0, page: str = "A4") -> Path:
    """A one-page vector PDF (PDF 1.4, Helvetica), written by hand: no extra dependency."""
    (pw, ph), squares, caption, (bx, by, bw, bh) = _layout(cols, rows, square_mm, page)
    pt = 1.0 / MM_PER_PT

    def rect(x: float, y: float, w: float, h: float) -> str:  # mm, y down -> pt, y up
        return f"{x * pt:.3f} {(ph - y - h) * pt:.3f} {w * pt:.3f} {h * pt:.3f} re"

    ops = ["0 g"] + [rect(x, y, square_mm, square_mm) for x, y in squares] + [rect(bx, by, bw, bh), "f"]
    text = caption.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    ops.append(f"BT /F1 9 Tf {bx * pt:.3f} {(ph - by - bh - 5) * pt:.3f} Td ({text}) Tj ET")
    content = "\n".join(ops).encode("ascii")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {pw * pt:.3f} {ph * pt:.3f}] "
         f"/Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>").encode("ascii"),
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    p = Path(path)
    p.write_bytes(bytes(out))
    return p


def render(cols: int = 9, rows: int = 6, px_per_square: int = 40, margin_squares: float = 1.0) -> np.ndarray:
    """The board as a grey uint8 image (white margin of `margin_squares` around it), for
    screens, tests and PNG output."""
    m = int(round(margin_squares * px_per_square))
    h, w = (rows + 1) * px_per_square, (cols + 1) * px_per_square
    img = np.full((h + 2 * m, w + 2 * m), 255, np.uint8)
    yy, xx = np.mgrid[0:h, 0:w]
    black = ((yy // px_per_square) + (xx // px_per_square)) % 2 == 0
    img[m:m + h, m:m + w][black] = 0
    return img


def write_png(path: str | Path, cols: int = 9, rows: int = 6, square_mm: float = 25.0, dpi: int = 300) -> Path:
    import cv2

    px = int(round(square_mm / 25.4 * dpi))
    p = Path(path)
    if not cv2.imwrite(str(p), render(cols, rows, px)):
        raise OSError(f"{p}: cannot write PNG")
    return p
