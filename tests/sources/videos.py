"""Small test videos made with cv2.VideoWriter (real files, decoded by the real FFmpeg backend)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def write_video(path: Path, frames: int = 20, fps: float = 25.0, size: tuple[int, int] = (320, 240),
                fourcc: str = "mp4v", draw=None) -> Path:
    """A video whose frame i shows i in its pixels (grey level and a moving square)."""
    w, h = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (w, h))
    assert writer.isOpened(), f"cannot write {path} with {fourcc}"
    for i in range(frames):
        if draw is not None:
            image = draw(i)
        else:
            image = np.full((h, w, 3), 40 + (i * 7) % 180, np.uint8)
            x = (i * 9) % (w - 20)
            cv2.rectangle(image, (x, 20), (x + 20, 40), (255, 255, 255), -1)
        writer.write(image)
    writer.release()
    return path
