"""Pre/post-processing shared by training-time evaluation (the runtime has its own copy in
edge/recognition/models/detector.py, which must not import training code) and metric helpers."""

from __future__ import annotations

import cv2
import numpy as np

from edge.recognition.imaging import fast_resize

INPUT_SIDE = 416
MULTIPLE = 32
PAD_VALUE = 114
STRIDE = 4


def letterbox(image: np.ndarray, side: int = INPUT_SIDE) -> tuple[np.ndarray, float]:
    """Longest side -> `side`, keep aspect, pad right/bottom to a multiple of 32.

    Returns a float32 [1,3,H,W] blob (BGR, 0..1) and the scale (input px per image px)."""
    h, w = image.shape[:2]
    r = side / max(h, w)
    nw, nh = max(1, round(w * r)), max(1, round(h * r))
    resized = fast_resize(image, nw, nh)
    pw = (-nw) % MULTIPLE
    ph = (-nh) % MULTIPLE
    if pw or ph:
        resized = cv2.copyMakeBorder(resized, 0, ph, 0, pw, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    blob = cv2.dnn.blobFromImage(resized, 1.0 / 255.0)
    return blob, r


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    order = np.argsort(-scores)
    keep = []
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    while order.size:
        i = order[0]
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        ov = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[ov <= iou]
    return np.array(keep, np.int64)


def decode(scores: np.ndarray, ltrb: np.ndarray, r: float, img_w: int, img_h: int,
           thr: float = 0.05, nms_iou: float = 0.45, max_det: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """scores [1,1,G,G'] (peak-filtered), ltrb [1,4,G,G'] -> boxes x1y1x2y2 in image px, scores."""
    s = scores[0, 0]
    ys, xs = np.nonzero(s > thr)
    if ys.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0,), np.float32)
    sc = s[ys, xs]
    if sc.size > max_det * 3:
        top = np.argpartition(-sc, max_det * 3)[: max_det * 3]
        ys, xs, sc = ys[top], xs[top], sc[top]
    d = ltrb[0][:, ys, xs]
    cx = (xs + 0.5) * STRIDE
    cy = (ys + 0.5) * STRIDE
    boxes = np.stack([cx - d[0], cy - d[1], cx + d[2], cy + d[3]], axis=1) / r
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, img_w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, img_h)
    keep = nms(boxes, sc, nms_iou)[:max_det]
    return boxes[keep].astype(np.float32), sc[keep].astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    ix = np.clip(np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]), 0, None)
    iy = np.clip(np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]), 0, None)
    inter = ix * iy
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (aa[:, None] + ab[None, :] - inter + 1e-9)


def match(pred: np.ndarray, scores: np.ndarray, gt: np.ndarray, iou: float = 0.5) -> np.ndarray:
    """Greedy by score; returns 1 for each prediction that is a true positive."""
    tp = np.zeros(len(pred), np.int8)
    if len(pred) == 0 or len(gt) == 0:
        return tp
    ious = box_iou(pred, gt)
    used = np.zeros(len(gt), bool)
    for i in np.argsort(-scores):
        cand = np.where(~used & (ious[i] >= iou))[0]
        if cand.size:
            j = cand[np.argmax(ious[i, cand])]
            used[j] = True
            tp[i] = 1
    return tp


def pr_summary(all_scores: np.ndarray, all_tp: np.ndarray, n_gt: int, min_precision: float = 0.95,
               fixed_thr: float | None = None) -> dict:
    """AP50, best recall with precision >= min_precision (and its threshold), R/P at fixed_thr."""
    order = np.argsort(-all_scores)
    s = all_scores[order]
    tp = all_tp[order].astype(np.float64)
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    rec = ctp / max(n_gt, 1)
    prec = ctp / np.maximum(ctp + cfp, 1e-9)
    out = {"n_gt": int(n_gt)}
    if len(s) == 0:
        out.update(ap50=0.0, recall_at_p=0.0, thr_at_p=None)
    else:
        mprec = np.maximum.accumulate(prec[::-1])[::-1]
        r_prev = np.concatenate([[0.0], rec[:-1]])
        out["ap50"] = float(np.sum((rec - r_prev) * mprec))
        ok = np.where(prec >= min_precision)[0]
        if ok.size:
            k = ok[np.argmax(rec[ok])]
            out["recall_at_p"] = float(rec[k])
            out["thr_at_p"] = float(s[k])
        else:
            out["recall_at_p"], out["thr_at_p"] = 0.0, None
    if fixed_thr is not None:
        m = all_scores >= fixed_thr
        ntp = int(all_tp[m].sum())
        out["recall"] = ntp / max(n_gt, 1)
        out["precision"] = ntp / max(int(m.sum()), 1)
        out["thr"] = fixed_thr
    return out
