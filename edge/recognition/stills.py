"""Decoding still photos with bounded memory.

A 48 MP phone photo is 144 MB once decoded and a 108 MP one 324 MB; `edge read` must stay under
250 MB on a Pi. Photos with more than MAX_STILL_PIXELS are decoded at 1/2, 1/4 or 1/8 of their
size, which libjpeg does while decoding (IMREAD_REDUCED_*: the full-size image never exists), and
the reads' boxes are scaled back to the photo's pixels. At 1/2 a 48 MP photo is 12 MP, whose
plates the fine pass finds and the reader reads as in any 12 MP photo.

The stored size comes from the file's header (JPEG SOF, PNG IHDR), so photos up to the limit
are decoded once, at full size, as before. Other formats are decoded at full size.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.heap import give_big_buffers_back

# A 24 MP photo (6000x4000) read at full size peaks at about 235 MB in `edge read`.
MAX_STILL_PIXELS = 24_000_000
# A decoded photo this big (5 MP and up; a 12 MP one is 36 MB) is read before the next is decoded
# (`edge read`, and `edge run` on a folder of photos), and the buffers of reading it are big
# enough to be worth giving back to the system at once (edge.heap).
BIG_PHOTO_BYTES = 16_000_000
_DECODE_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}
_HEADER_BYTES = 1 << 18  # JPEG SOF follows the APPn segments (EXIF, ICC, MPF: up to 64 KB each)
_TAIL_BYTES = 1024  # the JPEG end-of-image marker, and any padding some writers put after it
# JPEG start-of-frame markers: C0-CF except DHT (C4), JPG (C8) and DAC (CC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}
_UNDECODED = (1, 254, 3)  # first pixel of a decode target until the decoder writes it


@dataclass(frozen=True, slots=True)
class Still:
    """A decoded photo: `image` BGR, and how many of the photo's pixels one of its pixels spans
    along x and y (1.0 when decoded at full size)."""

    image: np.ndarray
    scale_x: float = 1.0
    scale_y: float = 1.0
    # a JPEG whose end-of-image marker is missing (a partial download or copy): libjpeg decodes
    # what is there and fills the rest grey
    cut_short: bool = False

    @property
    def nbytes(self) -> int:
        return self.image.nbytes


def stored_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from the first bytes of a JPEG or PNG file, else None."""
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    if head[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 9 <= len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF:
            height, width = struct.unpack(">HH", head[i + 5:i + 9])
            return width, height
        i += 2 + struct.unpack(">H", head[i + 2:i + 4])[0]
    return None


def reduction(width: int, height: int, most: int = MAX_STILL_PIXELS) -> int:
    """The smallest of 1, 2, 4, 8 that brings width x height to at most `most` pixels."""
    for r in (1, 2, 4):
        if (width // r) * (height // r) <= most:
            return r
    return 8


def read_still(path: Path) -> Still | None:
    """The photo at `path` (EXIF orientation applied), reduced when it is too big; None when it
    cannot be decoded."""
    with open(path, "rb") as f:
        head = f.read(_HEADER_BYTES)
        f.seek(max(0, f.seek(0, 2) - _TAIL_BYTES))
        tail = f.read()
    size = stored_size(head)
    if size and size[0] * size[1] * 3 > BIG_PHOTO_BYTES:
        give_big_buffers_back()
    r = reduction(*size) if size else 1
    image = _decode(path, _DECODE_FLAGS[r], (-(-size[1] // r), -(-size[0] // r)) if size else None)
    if image is None:
        return None
    cut_short = head[:2] == b"\xff\xd8" and b"\xff\xd9" not in tail
    if r == 1:
        return Still(image, cut_short=cut_short)
    width, height = size
    h, w = image.shape[:2]
    if (w > h) != (width > height):  # turned upright from its EXIF orientation
        width, height = height, width
    return Still(image, width / w, height / h, cut_short)


def _decode(path: Path, flags: int, shape: tuple[int, int] | None) -> np.ndarray | None:
    """cv2.imread into an array allocated here when the decoded (height, width) is known.

    Plain cv2.imread decodes into OpenCV's own buffer and the Python binding then copies it into
    a new array: twice the image at the peak, 72 MB more for a 24 MP photo. With the array given
    (OpenCV 4.10+), libjpeg writes straight into it. A photo turned by its EXIF orientation does
    not fit the array, and OpenCV then allocates as before."""
    if shape is None:
        return cv2.imread(str(path), flags)
    dst = np.empty((*shape, 3), np.uint8)
    # A failed decode leaves `dst` as it was and still returns it: the first pixel, decoded
    # first, tells. When it still holds the mark (or a photo's first pixel is the mark), the
    # plain call decides.
    dst[0, 0] = _UNDECODED
    try:
        image = cv2.imread(str(path), dst, flags)
    except (cv2.error, TypeError):  # an OpenCV without the dst overload
        return cv2.imread(str(path), flags)
    if image is None or not image.size or (image is dst and tuple(dst[0, 0]) == _UNDECODED):
        return cv2.imread(str(path), flags)
    return image
