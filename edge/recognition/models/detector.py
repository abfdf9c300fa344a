"""Licence-plate detector: the project's own one-class ONNX model (models/plate_detector.onnx).

Contract (also in models/plate_detector.json, which this module reads):
  input  `images` float32 [1,3,H,W], BGR, pixel/255; the image is letterboxed: longest side
         scaled to `input_side` (512 for the shipped model), aspect kept, padded right/bottom
         with grey 114 up to a multiple of 32 (so a 1280x720 frame becomes 512x288).
  output `scores` [1,1,H/4,W/4] plate-centre heatmap, sigmoid, non-peaks (3x3) already zeroed;
         `ltrb`  [1,4,H/4,W/4] distances in input pixels from each cell centre to the box's
         left, top, right, bottom edges.
Peaks above the score threshold become boxes; numpy NMS removes overlaps; boxes are mapped
back to the original image's pixels and clipped to it. The tuning beyond the thresholds is a
`DetectionPolicy` (the sidecar may set it; the figures behind its values: docs/reading.md).

Optionally (`coarse_side`, sidecar `input.coarse_side`) the same model also runs on the image
letterboxed to a smaller side and both passes' peaks go through one NMS. The network is fully
convolutional, so any side works; 512 + 320 measured 1.46x the time of 512 alone (a run has a
fixed cost besides its pixels). It finds the plates that fill most of the picture (close-ups,
a car at the kerb), which the main pass cuts short because it was trained on views holding
smaller plates.

Stills of `fine_min_side` px and more (phone photos, 4K frames, a street seen from a window)
also get a fine pass (`fine_side`, sidecar `input.fine_side` / `input.fine_scale`): letterboxed to
512, a 4000 px photo shrinks 8x and a plate a reader could read (100 px wide) becomes a 13 px
smudge the network was never trained on, and in a 1280 px photo a far car's 40 px plate becomes
16 px. The fine pass shows the image at the scales of the training views (`fine_side_for`). It
runs on tiles of at most `fine_tile` px overlapping by `fine_overlap` px (one tile when the scaled
image has no more pixels than one), so memory and onnxruntime's buffers stay those of one tile
whatever the photo's size; a peak whose box comes near a tile's inner edge is dropped (its plate lies whole in
the neighbouring tile, or is big enough for the main pass). Its peaks are marked `confirm` unless
a sure main or coarse peak overlaps them: the network has seen few scenes at that scale, and so
few of the textures it confuses with plates there (signs, text, grilles).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from edge.heap import big_buffers_given_back
from edge.recognition.imaging import fast_resize

from edge.records import BoundingBox, PlateDetection

DEFAULT_MODEL = "plate_detector.onnx"

_INPUT = {"sidecar": "input"}  # the sidecar section a DetectionPolicy field may be set in
_POST = {"sidecar": "postprocess"}


@dataclass(frozen=True, slots=True)
class DetectionPolicy:
    """How the detector looks beyond its thresholds: the fine pass over big stills, its tiles,
    which boxes are one plate, and the second look at a plate that fills the picture. A
    model's sidecar may set any field (by its name, in the section `from_sidecar` reads it
    from); the defaults are the shipped model's, measured as docs/reading.md tells."""

    # Stills this big get the fine pass, whatever the main passes found (a car close by and one
    # far off), shown at `fine_near_scale` of their size, at least `fine_min_px`, at most
    # `fine_near_px`, or at `fine_scale` where that is more, never over `fine_side`.
    fine_min_side: int = field(default=900, metadata=_INPUT)
    fine_near_scale: float = field(default=0.625, metadata=_INPUT)
    fine_min_px: int = field(default=768, metadata=_INPUT)
    fine_near_px: int = field(default=1152, metadata=_INPUT)
    fine_scale: float = field(default=0.5, metadata=_INPUT)
    # Its tiles: at most `fine_tile` px, overlapping by more than a plate the main pass could
    # miss (>= 32 px there at 2048/512); a box within `tile_edge_px` (two heatmap cells) of an
    # inner tile edge may be a cut plate and is dropped.
    fine_tile: int = field(default=768, metadata=_INPUT)
    fine_overlap: int = field(default=128, metadata=_INPUT)
    tile_edge_px: int = field(default=8, metadata=_POST)
    # A box lying this much inside another is the same plate, whatever their IoU.
    nms_contain: float = field(default=0.8, metadata=_POST)
    # A box spanning `plate_fills` of the still's width, or nothing found in a still no bigger
    # than `small_still` px: the plate fills the picture, which the network never saw; the still
    # is detected again in a grey frame `frame_margin` of its size on each side.
    plate_fills: float = field(default=0.5, metadata=_INPUT)
    small_still: int = field(default=400, metadata=_INPUT)
    frame_margin: float = field(default=0.5, metadata=_INPUT)

    def __post_init__(self) -> None:
        if not 0 <= self.fine_overlap < self.fine_tile:
            raise ValueError("fine_overlap must be at least 0 and less than fine_tile")

    @classmethod
    def from_sidecar(cls, meta: Mapping) -> DetectionPolicy:
        """The fields the sidecar sets (in its `input` or `postprocess` section, see each
        field), the defaults for the rest."""
        given = {}
        for f in fields(cls):
            section = meta.get(f.metadata["sidecar"], {})
            if f.name in section:
                given[f.name] = type(f.default)(section[f.name])
        return cls(**given)


DEFAULT_DETECTION = DetectionPolicy()


@dataclass(frozen=True, slots=True)
class ConfirmRule:
    """What the read of a detection marked `confirm` must reach to be kept: the rule the
    model's two thresholds were chosen with (sidecar `confirmation.confirm_rule`, written by
    training/detector/confirm.py; edge.recognition.reading.ReadingPolicy.for_detector applies it)."""

    min_confidence: float
    min_chars: int

    @classmethod
    def from_sidecar(cls, meta: Mapping) -> ConfirmRule | None:
        rule = meta.get("confirmation", {}).get("confirm_rule")
        if not rule:
            return None
        return cls(float(rule["min_confidence"]), int(rule["min_chars"]))


def _models_dir() -> Path:
    try:
        from edge.recognition.models import models_dir  # owned by the OCR/inference package

        return Path(models_dir())
    except ImportError:
        return Path(__file__).resolve().parents[3] / "models"


def default_model_path() -> Path:
    return _models_dir() / DEFAULT_MODEL


def _suppressed(box: np.ndarray, others: np.ndarray, iou: float, contain: float) -> np.ndarray:
    """Which of `others` [N, 4] (x1y1x2y2) the same plate as `box` would give: IoU above `iou`,
    or one box lying mostly (`contain` of its area) inside the other."""
    iw = np.clip(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return (inter / (area + areas - inter + 1e-9) > iou) | (inter > contain * np.minimum(area, areas))


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float, contain: float) -> list[int]:
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        if rest.size == 0:
            break
        order = rest[~_suppressed(boxes[i], boxes[rest], iou, contain)]
    return keep


def _overlaps(box: np.ndarray, others: np.ndarray, iou: float, contain: float) -> bool:
    """Whether `box` overlaps any of `others` as NMS would suppress it."""
    return bool(others.size) and bool(_suppressed(box, others, iou, contain).any())


def _tile_size(length: int, most: int, multiple: int, overlap: int) -> int:
    """The smallest tile (a multiple of `multiple`, at most `most`) that covers `length` px in
    as few tiles as `most` px tiles would, overlapping by `overlap`: 1488 px rows take three
    608 px tiles rather than three 768 px ones (less time, docs/reading.md)."""
    if length <= most:
        return length + (-length) % multiple
    n = _tile_count(length, most, overlap)
    size = -(-(length + (n - 1) * overlap) // n)
    return min(most, size + (-size) % multiple)


def _tile_starts(length: int, tile: int, overlap: int) -> list[int]:
    """Offsets of tiles of `tile` px covering `length` px, overlapping by at least `overlap`."""
    if length <= tile:
        return [0]
    n = _tile_count(length, tile, overlap)
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def _tile_count(length: int, tile: int, overlap: int) -> int:
    """How many `tile` px tiles overlapping by at least `overlap` cover `length` (> tile) px."""
    return 1 + -(-(length - tile) // (tile - overlap))


class OnnxPlateDetector:
    """`predict(BGR image) -> list[PlateDetection]`, boxes in the image's pixels, best first."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        threads: int = 1,
        score_threshold: float | None = None,
        nms_iou: float | None = None,
        max_detections: int | None = None,
        min_box_px: float | None = None,
        input_side: int | None = None,
        coarse_side: int | None = None,
        fine_side: int | None = None,
        policy: DetectionPolicy | None = None,
    ):
        """An argument left None takes the sidecar's value; `policy` None: the sidecar's fields
        (`DetectionPolicy.from_sidecar`), the defaults for those it leaves out."""
        path = Path(model_path) if model_path is not None else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"detector model not found: {path}")
        meta_path = path.with_suffix(".json")
        if not meta_path.is_file():  # e.g. plate_detector_int8.onnx shares plate_detector.json
            meta_path = path.parent / (path.stem.split("_int8")[0].split("_fp32")[0] + ".json")
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        pre = meta.get("input", {})
        post = meta.get("postprocess", {})
        self.input_side = int(input_side if input_side else pre.get("side", 416))
        # None = the sidecar's; 0 = no coarse pass; a side >= the main one adds nothing
        coarse = int(coarse_side if coarse_side is not None else pre.get("coarse_side", 0))
        self.coarse_side = coarse if 0 < coarse < self.input_side else 0
        # None = the sidecar's; 0 = no fine pass
        self.fine_side = int(fine_side if fine_side is not None else pre.get("fine_side", 0))
        self.policy = policy if policy is not None else DetectionPolicy.from_sidecar(meta)
        # what a read of a candidate must reach (edge.recognition.reading.ReadingPolicy.for_detector)
        self.confirm_rule = ConfirmRule.from_sidecar(meta)
        self.multiple = int(pre.get("multiple", 32))
        self.pad_value = int(pre.get("pad_value", 114))
        self.stride = int(post.get("stride", 4))
        self.score_threshold = float(score_threshold if score_threshold is not None
                                     else post.get("score_threshold", 0.35))
        # Candidates between candidate_threshold and score_threshold are returned marked
        # `confirm`: the reading step keeps them only when the reader is sure of a text. A
        # threshold set by the caller means exactly that threshold (no candidates).
        candidate = post.get("candidate_threshold") if score_threshold is None else None
        self.candidate_threshold = min(float(candidate), self.score_threshold) if candidate is not None \
            else self.score_threshold
        self.nms_iou = float(nms_iou if nms_iou is not None else post.get("nms_iou", 0.45))
        self.max_detections = int(max_detections if max_detections is not None
                                  else post.get("max_detections", 50))
        self.min_box_px = float(min_box_px if min_box_px is not None else post.get("min_box_px", 2.0))
        import onnxruntime as ort  # lazily: importing this module must not need it

        so = ort.SessionOptions()
        so.intra_op_num_threads = max(0, int(threads))  # 0: onnxruntime's choice (its cores)
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self._session = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
        # After the fine pass's last tile of a big photo, onnxruntime gives back the arena memory
        # its big inputs took, so it is not held while the next photo decodes; only once big
        # buffers are mapped on their own (edge.heap), else the C heap keeps growing
        # (docs/reading.md, "Memory after a big photo").
        self._shrink_arena = ort.RunOptions()
        self._shrink_arena.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        self._input = self._session.get_inputs()[0].name
        self.name = f"{meta.get('name', path.stem)}:{meta.get('version', '0')}" + (
            "-int8" if "int8" in path.stem else "")
        self.model_path = path

    # -- pre/post ----------------------------------------------------------------------
    def _letterbox(self, image: np.ndarray, side: int) -> tuple[np.ndarray, float]:
        h, w = image.shape[:2]
        r = side / max(h, w)
        nw, nh = max(1, round(w * r)), max(1, round(h * r))
        resized = fast_resize(image, nw, nh)
        pw, ph = (-nw) % self.multiple, (-nh) % self.multiple
        if pw or ph:
            resized = cv2.copyMakeBorder(resized, 0, ph, 0, pw, cv2.BORDER_CONSTANT,
                                         value=(self.pad_value,) * 3)
        blob = np.empty((1, 3) + resized.shape[:2], np.float32)
        np.multiply(resized.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=blob[0])
        return blob, r

    def _peaks(self, image: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (x1, y1, x2, y2 in image pixels, unclipped) and scores of the heatmap peaks
        above the candidate threshold, with the image letterboxed to `side`."""
        blob, r = self._letterbox(image, side)
        scores, ltrb = self._session.run(None, {self._input: blob})
        boxes, sc = self._decode(scores, ltrb)
        return boxes / r, sc

    def _decode(self, scores: np.ndarray, ltrb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (x1, y1, x2, y2 in input pixels) and scores of the peaks above the candidate
        threshold."""
        s = scores[0, 0]
        ys, xs = np.nonzero(s > self.candidate_threshold)
        sc = s[ys, xs]
        d = ltrb[0][:, ys, xs]
        cx = (xs + 0.5) * self.stride
        cy = (ys + 0.5) * self.stride
        return np.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], axis=1), sc

    def _tiled_peaks(self, image: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
        """`_peaks` of the image scaled so its longest side is `side`, run tile by tile."""
        h, w = image.shape[:2]
        r = side / max(h, w)
        scaled = fast_resize(image, max(1, round(w * r)), max(1, round(h * r)))
        sh, sw = scaled.shape[:2]
        th, tw = (n + (-n) % self.multiple for n in (sh, sw))
        most, overlap = self.policy.fine_tile, self.policy.fine_overlap
        if th * tw > most * most:  # else one tile holds it all (e.g. a 1080p still)
            th, tw = (_tile_size(n, most, self.multiple, overlap) for n in (sh, sw))
        tile = np.full((th, tw, 3), self.pad_value, np.uint8)
        blob = np.empty((1, 3, th, tw), np.float32)
        all_boxes, all_scores = [], []
        starts = [(y0, x0) for y0 in _tile_starts(sh, th, overlap) for x0 in _tile_starts(sw, tw, overlap)]
        for k, (y0, x0) in enumerate(starts):
            view = scaled[y0:y0 + th, x0:x0 + tw]
            vh, vw = view.shape[:2]
            tile[:vh, :vw] = view  # smaller only on an axis that one padded tile covers
            np.multiply(tile.transpose(2, 0, 1), np.float32(1.0 / 255.0), out=blob[0])
            shrink = k == len(starts) - 1 and big_buffers_given_back()
            scores, ltrb = self._session.run(None, {self._input: blob}, self._shrink_arena if shrink else None)
            boxes, sc = self._decode(scores, ltrb)
            # a box reaching to within `tile_edge_px` of an inner tile edge may be a cut plate
            # (its box ends a little short of the edge): drop it
            e = self.policy.tile_edge_px
            inner = ((boxes[:, 0] > e) | (x0 == 0)) & ((boxes[:, 1] > e) | (y0 == 0)) \
                & ((boxes[:, 2] < vw - e) | (x0 + vw >= sw)) & ((boxes[:, 3] < vh - e) | (y0 + vh >= sh))
            all_boxes.append((boxes[inner] + (x0, y0, x0, y0)) / r)
            all_scores.append(sc[inner])
        return np.concatenate(all_boxes), np.concatenate(all_scores)

    def predict(self, image: np.ndarray) -> list[PlateDetection]:
        if not isinstance(image, np.ndarray) or image.size == 0:
            raise ValueError("detector input must be a non-empty image array")
        if image.ndim == 2:
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
        elif image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"detector input must be HxWx3 BGR, got shape {image.shape}")
        if image.dtype != np.uint8:
            image = np.clip(image, 0, 255).astype(np.uint8)
        found = self._detect(image)
        h, w = image.shape[:2]
        policy = self.policy
        if self.fine_side > 0 and (any(d.box.w >= policy.plate_fills * w for d in found)
                                   or (not found and max(w, h) <= policy.small_still)):
            return self._detect_framed(image)
        return found

    def _detect_framed(self, image: np.ndarray) -> list[PlateDetection]:
        """The main and coarse passes on the still set in a grey frame (`frame_margin` of its size
        on each side), boxes back in its own pixels: a plate that fills the picture gets the
        surroundings the network has always seen plates in. (The frame would make a mid-size
        photo big enough for the fine pass, which finds small plates, not one that fills it.)"""
        h, w = image.shape[:2]
        mx, my = round(w * self.policy.frame_margin), round(h * self.policy.frame_margin)
        framed = cv2.copyMakeBorder(image, my, my, mx, mx, cv2.BORDER_CONSTANT, value=(self.pad_value,) * 3)
        out = []
        for d in self._detect(framed, fine_pass=False):
            x1, y1 = max(0.0, d.box.x - mx), max(0.0, d.box.y - my)
            x2, y2 = min(float(w), d.box.x2 - mx), min(float(h), d.box.y2 - my)
            if x2 - x1 >= self.min_box_px and y2 - y1 >= 1.0:
                out.append(PlateDetection(BoundingBox(x1, y1, x2 - x1, y2 - y1), d.score, d.confirm))
        return out

    def _detect(self, image: np.ndarray, fine_pass: bool = True) -> list[PlateDetection]:
        """The passes' peaks through one NMS; `fine_pass` False: the main and coarse passes only."""
        h, w = image.shape[:2]
        passes = [self._peaks(image, self.input_side)]
        if 0 < self.coarse_side < self.input_side:
            passes.append(self._peaks(image, self.coarse_side))
        fine = self.fine_side_for(w, h) if fine_pass else 0
        if fine:
            passes.append(self._tiled_peaks(image, fine))
        boxes = np.concatenate([b for b, _ in passes]) if len(passes) > 1 else passes[0][0]
        sc = np.concatenate([s for _, s in passes]) if len(passes) > 1 else passes[0][1]
        if sc.size == 0:
            return []
        # peaks that may be published without the reader's confirmation
        sure = sc > self.score_threshold
        if fine:
            sure[sure.size - passes[-1][1].size:] = False
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        ok = ((boxes[:, 2] - boxes[:, 0]) >= self.min_box_px) & ((boxes[:, 3] - boxes[:, 1]) >= 1.0)
        boxes, sc, sure = boxes[ok], sc[ok], sure[ok]
        contain = self.policy.nms_contain
        keep = _nms(boxes, sc, self.nms_iou, contain)[: self.max_detections]
        sure_boxes = boxes[sure] if fine else boxes[:0]
        return [
            PlateDetection(
                box=BoundingBox(float(boxes[i, 0]), float(boxes[i, 1]),
                                float(boxes[i, 2] - boxes[i, 0]), float(boxes[i, 3] - boxes[i, 1])),
                score=float(sc[i]),
                confirm=not sure[i] and not _overlaps(boxes[i], sure_boxes, self.nms_iou, contain),
            )
            for i in keep
        ]

    @property
    def threads(self) -> int:
        """onnxruntime intra-op threads of the session (0: its own choice, one per core)."""
        return self._session.get_session_options().intra_op_num_threads

    def fine_side_for(self, width: int, height: int) -> int:
        """Side of the fine pass for a still this size, or 0 when it gets none (`fine_min_side`)."""
        p = self.policy
        longest = max(width, height)
        if self.fine_side <= 0 or longest < p.fine_min_side:
            return 0
        near = min(p.fine_near_scale * longest, p.fine_near_px)
        side = int(min(self.fine_side, max(p.fine_min_px, near, p.fine_scale * longest)))
        return side - side % self.multiple
