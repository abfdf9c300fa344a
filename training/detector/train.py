"""Train the plate detector on CPU (one thread) and export ONNX.

    python -m training.detector.train --out /work/scratch/detector/run1

Every --eval-every steps the EMA weights are scored on the detection sets' val splits (D1:
val_noleak.txt) at the real inference resolution, a checkpoint is written and the best
(mean over sets of recall at precision >= 0.95) is exported to <out>/best.onnx.
e2e_val is never read here.
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import math
import pickle
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from training.detector import common, data  # noqa: E402
from training.detector.model import STRIDE, ExportWrapper, PlateNet  # noqa: E402


def synth_samples(n_scenes: int, n_paint: int, real: list[data.Sample], seed: int,
                  cache: Path | None = None) -> list[data.Sample]:
    """Synthetic data from the team's renderer (edge.synth.scenes), if it is importable:
    `n_scenes` procedural street scenes with 0-3 cars, and `n_paint` real train images whose
    labelled plates are painted over with synthetic plates (new styles, e.g. Brazil, in real
    context; the labels stay the real boxes, so tiny plates it leaves alone stay labelled)."""
    if n_scenes <= 0 and n_paint <= 0:
        return []
    if cache is not None and cache.exists():
        with cache.open("rb") as f:
            return [data.Sample(*t) for t in pickle.load(f)]
    try:
        from edge.synth.scenes import paint_over_plates, render_scene
    except Exception as exc:  # renderer not there: train on real data only
        print(f"synthetic scenes unavailable ({exc}); real data only", file=sys.stderr)
        return []
    rng = np.random.default_rng(seed)
    sizes = [(640, 360), (640, 480), (480, 480), (416, 416), (360, 580)]
    out = []
    for i in tqdm(range(n_scenes), desc="synth scenes", mininterval=5):
        w, h = sizes[i % len(sizes)]
        sc = render_scene(rng, w, h, max_plates=3, min_plate_w=12.0)
        boxes = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b, _ in sc.plates], np.float32).reshape(-1, 4)
        out.append(data.Sample(np.ascontiguousarray(sc.image), boxes, "synth", f"synth_{i}", (w, h)))
    cands = [s for s in real if len(s.boxes)]
    for i in tqdm(range(n_paint), desc="paint-over", mininterval=5):
        s = cands[int(rng.integers(len(cands)))]
        xywh = [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in s.boxes]
        img, _ = paint_over_plates(rng, s.image, xywh)
        out.append(data.Sample(img, s.boxes.copy(), "synth_paint", f"paint_{i}_{s.name}", s.orig_size))
    if cache is not None:
        with cache.open("wb") as f:
            pickle.dump([(s.image, s.boxes, s.source, s.name, s.orig_size) for s in out], f,
                        protocol=pickle.HIGHEST_PROTOCOL)
    return out


def focal_loss(logits: torch.Tensor, heat: torch.Tensor, hweight: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    neg = (1 - pos) * hweight
    pos_l = -torch.log(p) * (1 - p) ** 2 * pos
    neg_l = -torch.log(1 - p) * p**2 * (1 - heat) ** 4 * neg
    npos = pos.sum().clamp(min=1.0)
    return (pos_l.sum() + neg_l.sum()) / npos


def giou_loss(reg: torch.Tensor, reg_box: torch.Tensor, reg_w: torch.Tensor) -> torch.Tensor:
    n, _, gh, gw = reg.shape
    ys = (torch.arange(gh, dtype=reg.dtype, device=reg.device) + 0.5) * STRIDE
    xs = (torch.arange(gw, dtype=reg.dtype, device=reg.device) + 0.5) * STRIDE
    d = torch.exp(reg.clamp(max=6.0)) * STRIDE
    px1 = xs[None, None, :] - d[:, 0]
    py1 = ys[None, :, None] - d[:, 1]
    px2 = xs[None, None, :] + d[:, 2]
    py2 = ys[None, :, None] + d[:, 3]
    tx1, ty1, tx2, ty2 = reg_box[:, 0], reg_box[:, 1], reg_box[:, 2], reg_box[:, 3]
    w = reg_w[:, 0]
    m = w > 0
    if not m.any():
        return reg.sum() * 0.0
    px1, py1, px2, py2 = px1[m], py1[m], px2[m], py2[m]
    tx1, ty1, tx2, ty2, w = tx1[m], ty1[m], tx2[m], ty2[m], w[m]
    iw = (torch.min(px2, tx2) - torch.max(px1, tx1)).clamp(min=0)
    ih = (torch.min(py2, ty2) - torch.max(py1, ty1)).clamp(min=0)
    inter = iw * ih
    union = (px2 - px1) * (py2 - py1) + (tx2 - tx1) * (ty2 - ty1) - inter
    iou = inter / union.clamp(min=1e-6)
    ew = torch.max(px2, tx2) - torch.min(px1, tx1)
    eh = torch.max(py2, ty2) - torch.min(py1, ty1)
    enc = (ew * eh).clamp(min=1e-6)
    giou = iou - (enc - union) / enc
    return ((1 - giou) * w).sum() / w.sum().clamp(min=1e-6) * 1.0


class SynthPool:
    """Synthetic samples rendered inside a data-loader worker: a ring of recent procedural street
    scenes and painted-over real images, each reused for a few random views (a scene costs about
    50 ms to render, a view about 1 ms). Used when scenes are made on the fly (--workers > 0)."""

    SIZES = ((640, 360), (640, 480), (480, 480), (416, 416), (360, 580))

    def __init__(self, real: list[data.Sample], rng: np.random.Generator, size: int = 120):
        from edge.synth.scenes import paint_over_plates, render_scene

        self._render, self._paint = render_scene, paint_over_plates
        self.real = [s for s in real if len(s.boxes)]
        self.rng = rng
        self.size = size
        self.items: list[data.Sample] = []
        self.made = 0
        for _ in range(12):
            self.refresh()

    def refresh(self) -> None:
        rng = self.rng
        self.made += 1
        if self.made % 2:
            w, h = self.SIZES[self.made % len(self.SIZES)]
            sc = self._render(rng, w, h, max_plates=3, min_plate_w=12.0)
            boxes = np.array([[b.x, b.y, b.x + b.w, b.y + b.h] for b, _ in sc.plates], np.float32).reshape(-1, 4)
            new = data.Sample(np.ascontiguousarray(sc.image), boxes, "synth", f"synth_{self.made}", (w, h))
        else:
            s = self.real[int(rng.integers(len(self.real)))]
            xywh = [(b[0], b[1], b[2] - b[0], b[3] - b[1]) for b in s.boxes]
            img, _ = self._paint(rng, s.image, xywh)
            new = data.Sample(img, s.boxes.copy(), "synth_paint", f"paint_{self.made}", s.orig_size)
        if len(self.items) < self.size:
            self.items.append(new)
        else:
            self.items[int(rng.integers(self.size))] = new

    def pick(self) -> data.Sample:
        return self.items[int(self.rng.integers(len(self.items)))]


class Batcher:
    def __init__(self, samples: list[data.Sample], crop: int, seed, zoom=(0.5, 1.7),
                 synth: SynthPool | None = None, synth_share: float = 0.0, rng=None):
        self.samples = samples
        self.crop = crop
        self.zoom = zoom
        self.rng = rng if rng is not None else np.random.default_rng(seed)
        self.synth = synth
        self.synth_share = synth_share if synth is not None else 0.0
        w = np.array([data.SET_WEIGHTS.get(s.source, 1.0) for s in samples], np.float64)
        self.p = w / w.sum()

    def __call__(self, bs: int):
        imgs, heats, hws, rbs, rws = [], [], [], [], []
        n_synth = int(self.rng.binomial(bs, self.synth_share)) if self.synth_share else 0
        idx = self.rng.choice(len(self.samples), size=bs - n_synth, p=self.p)
        picks = [self.samples[i] for i in idx] + [self.synth.pick() for _ in range(n_synth)]
        if n_synth:
            self.synth.refresh()
        for sample in picks:
            im, b, ig = data.random_view(sample, self.rng, self.crop, zoom=self.zoom)
            im = data.photometric(im, self.rng)
            h, hw, rb, rw = data.make_targets(b, ig, self.crop, STRIDE)
            imgs.append(im)
            heats.append(h)
            hws.append(hw)
            rbs.append(rb)
            rws.append(rw)
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).float().div_(255.0)
        return (x, torch.from_numpy(np.stack(heats)), torch.from_numpy(np.stack(hws)),
                torch.from_numpy(np.stack(rbs)), torch.from_numpy(np.stack(rws)))


class BatchStream(torch.utils.data.IterableDataset):
    """Endless ready-made batches, one independent random stream per data-loader worker."""

    def __init__(self, samples: list[data.Sample], crop: int, batch: int, seed: int, zoom, synth_share: float):
        self.samples, self.crop, self.batch, self.seed = samples, crop, batch, seed
        self.zoom, self.synth_share = zoom, synth_share

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info is not None else 0
        rng = np.random.default_rng([self.seed, wid])
        cv2.setNumThreads(1)
        pool = None
        if self.synth_share > 0:
            try:
                pool = SynthPool(self.samples, rng)
            except Exception as exc:  # renderer not importable: real data only
                print(f"worker {wid}: synthetic scenes unavailable ({exc})", file=sys.stderr, flush=True)
        batcher = Batcher(self.samples, self.crop, None, zoom=self.zoom, synth=pool,
                          synth_share=self.synth_share, rng=rng)
        while True:
            yield batcher(self.batch)


@torch.no_grad()
def evaluate(model: torch.nn.Module, samples: list[data.Sample], thr: float = 0.05) -> dict:
    """Per-source PR summary at the real inference resolution (images at their cached size;
    the letterbox maps any size to 416 so only cached D3/D6 frames are pre-shrunk)."""
    model.eval()
    wrap = ExportWrapper(model)
    dev = next(model.parameters()).device
    per: dict[str, list] = {}
    for s in samples:
        blob, r = common.letterbox(s.image)
        sc, ltrb = wrap(torch.from_numpy(blob).to(dev))
        h, w = s.image.shape[:2]
        boxes, scores = common.decode(sc.cpu().numpy(), ltrb.cpu().numpy(), r, w, h, thr=thr)
        tp = common.match(boxes, scores, s.boxes)
        e = per.setdefault(s.source, [[], [], 0])
        e[0].append(scores)
        e[1].append(tp)
        e[2] += len(s.boxes)
    res = {}
    for src, (scs, tps, ngt) in sorted(per.items()):
        res[src] = common.pr_summary(np.concatenate(scs), np.concatenate(tps), ngt, fixed_thr=0.3)
    res["mean_recall_at_p95"] = float(np.mean([v["recall_at_p"] for k, v in res.items()]))
    res["mean_ap50"] = float(np.mean([v["ap50"] for k, v in res.items() if isinstance(v, dict)]))
    return res


def export_onnx(model: PlateNet, path: Path) -> None:
    m = ExportWrapper(copy.deepcopy(model).cpu().eval())
    x = torch.zeros(1, 3, 256, 416)
    torch.onnx.export(m, x, str(path), input_names=["images"], output_names=["scores", "ltrb"],
                      dynamic_axes={"images": {0: "n", 2: "h", 3: "w"}, "scores": {0: "n", 2: "gh", 3: "gw"},
                                    "ltrb": {0: "n", 2: "gh", 3: "gw"}},
                      opset_version=17, dynamo=False)


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=data.default_data_root())
    ap.add_argument("--cache", type=Path, default=Path("/work/scratch/detector"))
    ap.add_argument("--pack", type=Path, default=None,
                    help="train from a file written by training.detector.pack (no val scoring)")
    ap.add_argument("--out", type=Path, default=Path("/work/scratch/detector/run"))
    ap.add_argument("--steps", type=int, default=3600)
    ap.add_argument("--minutes", type=float, default=None,
                    help="wall-clock budget: the schedule follows time, not --steps")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--zoom-max", type=float, default=1.7, help="largest random zoom of the 416 px view")
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--synth", type=int, default=500, help="procedural synthetic scenes to mix in")
    ap.add_argument("--paint", type=int, default=500, help="real train images with plates painted over")
    ap.add_argument("--synth-share", type=float, default=0.17,
                    help="with --workers: share of each batch from scenes rendered in the workers")
    ap.add_argument("--eval-every", type=int, default=600)
    ap.add_argument("--snapshot-minutes", type=float, default=2.0,
                    help="with --minutes: save last.pt/last.onnx this often")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--workers", type=int, default=0, help="data-loader processes (0: batches made in-process)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--resume", type=Path, default=None, help="continue a run (same schedule)")
    ap.add_argument("--init", type=Path, default=None,
                    help="start from these weights (a previous stage's last.pt) with a fresh schedule")
    ap.add_argument("--freeze-bn", action="store_true",
                    help="keep BatchNorm statistics fixed (eval mode) (needed after from_onnx, whose "
                         "BatchNorms are identities carrying the folded biases; also steadier in small batches)")
    return ap.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    t0 = time.time()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    train, val = load_data(args)
    model, ema, opt, start = build_model(args, dev)
    frozen_bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)] if args.freeze_bn else []
    batches = batch_stream(args, train, start, dev)
    return train_loop(args, model, ema, opt, start, batches, frozen_bns, val, dev, t0)


def load_data(args: argparse.Namespace) -> tuple[list[data.Sample], list[data.Sample]]:
    """(train, val) samples: the pack (no val), or the cached sets plus, when batches are made
    in this process, the synthetic scenes."""
    if args.pack is not None:
        from training.detector import pack

        train = pack.read(args.pack)
        val: list[data.Sample] = []
    else:
        train = data.load_cached(args.cache / "cache_train.pkl", args.data, "train")
        val = data.load_cached(args.cache / "cache_val.pkl", args.data, "val")
    if args.workers == 0:
        train = train + synth_samples(args.synth, args.paint, train, args.seed + 1,
                                      args.cache / f"cache_synth_{args.synth}_{args.paint}_{args.seed + 1}.pkl")
    counts: dict[str, list[int]] = {}
    for s in train:
        c = counts.setdefault(s.source, [0, 0])
        c[0] += 1
        c[1] += len(s.boxes)
    print("train images/boxes per source:", json.dumps(counts), flush=True)
    return train, val


def build_model(args: argparse.Namespace, dev: torch.device):
    """(model, its EMA, the optimiser, the first step), from --init or --resume when given."""
    model = PlateNet(args.width).to(dev)
    ema = copy.deepcopy(model)
    for p in ema.parameters():
        p.requires_grad_(False)
    decay, no_decay = [], []
    for n, p in model.named_parameters():
        (no_decay if p.ndim <= 1 else decay).append(p)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr)
    start = 0
    if args.init:
        ck = torch.load(args.init, map_location=dev)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
    if args.resume:
        ck = torch.load(args.resume, map_location=dev)
        model.load_state_dict(ck["model"])
        ema.load_state_dict(ck["ema"])
        opt.load_state_dict(ck["opt"])
        start = ck["step"]
    return model, ema, opt, start


def batch_stream(args: argparse.Namespace, train: list[data.Sample], start: int, dev: torch.device):
    """An endless iterator of training batches, from --workers processes or this one."""
    zoom = (0.5, args.zoom_max)
    if args.workers > 0:
        stream = BatchStream(train, args.crop, args.batch, args.seed + start, zoom, args.synth_share)
        loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=args.workers,
                                             pin_memory=dev.type == "cuda", prefetch_factor=4,
                                             persistent_workers=True)
        return iter(loader)
    batcher = Batcher(train, args.crop, args.seed + start, zoom=zoom)
    return iter(lambda: batcher(args.batch), None)


WARMUP_STEPS = 200


def lr_schedule(args: argparse.Namespace, t0: float):
    """lr_at(step): a linear warm-up, then a cosine to 2 % over --steps or over --minutes of
    wall-clock time."""
    budget = args.minutes * 60.0 if args.minutes else None

    def lr_at(step: int) -> float:
        if step < WARMUP_STEPS:
            return args.lr * (step + 1) / WARMUP_STEPS
        if budget is not None:
            t = (time.time() - t0) / budget
        else:
            t = (step - WARMUP_STEPS) / max(args.steps - WARMUP_STEPS, 1)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(t, 1.0))))

    return lr_at


def train_step(args: argparse.Namespace, model, ema, opt, frozen_bns, batches, lr: float, step: int,
               dev: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on the next batch, then the EMA update; returns the (heatmap, GIoU)
    losses."""
    model.train()
    for bn in frozen_bns:
        bn.eval()
    x, heat, hw, rb, rw = (t.to(dev, non_blocking=True) for t in next(batches))
    for g in opt.param_groups:
        g["lr"] = lr
    logits, reg = model(x)
    lh = focal_loss(logits, heat, hw)
    lr_ = giou_loss(reg, rb, rw)
    loss = lh + 2.0 * lr_
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
    opt.step()
    d = 0.999 if args.init else min(0.999, (1 + step) / (10 + step))
    with torch.no_grad():
        msd = model.state_dict()
        for k, v in ema.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(d).add_(msd[k].detach(), alpha=1 - d)
            else:
                v.copy_(msd[k])
    return lh, lr_


def train_loop(args: argparse.Namespace, model, ema, opt, start: int, batches, frozen_bns,
               val: list[data.Sample], dev: torch.device, t0: float) -> int:
    """Train until --steps (scoring on `val` every --eval-every) or --minutes (a snapshot every
    --snapshot-minutes); the checkpoints and log go to --out."""
    budget = args.minutes * 60.0 if args.minutes else None
    lr_at = lr_schedule(args, t0)
    saved = _Checkpoints(args, model, ema, opt, t0)
    steps = itertools.count(start) if budget is not None else range(start, args.steps)
    bar = tqdm(steps, initial=start, total=None if budget else args.steps, desc="train", mininterval=5)
    step = start
    for step in bar:
        if budget is not None and time.time() - t0 >= budget:
            break
        lh, lr_ = train_step(args, model, ema, opt, frozen_bns, batches, lr_at(step), step, dev)
        if step % 50 == 0:
            bar.set_postfix(heat=f"{lh.item():.3f}", giou=f"{lr_.item():.3f}", lr=f"{lr_at(step):.1e}")
        if budget is not None:
            if time.time() >= saved.next_snapshot:
                saved.snapshot(step, lh, lr_, lr_at)
            continue
        last = step + 1 == args.steps
        if val and ((step + 1) % args.eval_every == 0 or last):
            saved.evaluate(step, val)
    bar.close()
    if budget is not None or not val:
        saved.finish(step)
        return 0
    print(f"done in {(time.time() - t0) / 60:.1f} min, best mean recall@P95 {saved.best:.4f}")
    return 0


class _Checkpoints:
    """last.pt/last.onnx, best.pt/best.onnx and log.jsonl of a run in --out."""

    def __init__(self, args: argparse.Namespace, model, ema, opt, t0: float) -> None:
        self.args, self.model, self.ema, self.opt, self.t0 = args, model, ema, opt, t0
        self.best = -1.0
        self.log = (args.out / "log.jsonl").open("a")
        self.next_snapshot = t0 + args.snapshot_minutes * 60.0

    def save_last(self, step: int) -> None:
        torch.save({"model": self.model.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                    "step": step, "width": self.args.width}, self.args.out / "last.pt")
        export_onnx(self.ema, self.args.out / "last.onnx")

    def _write(self, rec: dict) -> None:
        self.log.write(json.dumps(rec) + "\n")
        self.log.flush()

    def snapshot(self, step: int, lh: torch.Tensor, lr_: torch.Tensor, lr_at) -> None:
        """A --minutes run's periodic last.pt, logged."""
        self.next_snapshot += self.args.snapshot_minutes * 60.0
        self.save_last(step + 1)
        rec = {"step": step + 1, "minutes": round((time.time() - self.t0) / 60, 2), "heat": round(lh.item(), 4),
               "giou": round(lr_.item(), 4), "lr": lr_at(step)}
        self._write(rec)
        tqdm.write(json.dumps(rec))

    def evaluate(self, step: int, val: list[data.Sample]) -> None:
        """Score the EMA weights on `val`, log it, save last.pt, and best.pt when it is the best."""
        res = evaluate(self.ema, val)
        score = res["mean_recall_at_p95"]
        rec = {"step": step + 1, "minutes": round((time.time() - self.t0) / 60, 1), "score": score,
               "mean_ap50": res["mean_ap50"],
               "per_source": {k: {kk: (round(vv, 4) if isinstance(vv, float) else vv) for kk, vv in v.items()}
                              for k, v in res.items() if isinstance(v, dict)}}
        self._write(rec)
        tqdm.write(json.dumps({"step": step + 1, "score": round(score, 4), "ap50": round(res["mean_ap50"], 4),
                               **{k[:2]: round(v["recall_at_p"], 3) for k, v in res.items() if isinstance(v, dict)}}))
        self.save_last(step + 1)
        if score >= self.best:
            self.best = score
            torch.save({"ema": self.ema.state_dict(), "step": step + 1, "width": self.args.width, "val": rec},
                       self.args.out / "best.pt")
            export_onnx(self.ema, self.args.out / "best.onnx")

    def finish(self, step: int) -> None:
        """The last checkpoint of a --minutes run (or one with no val), logged."""
        self.save_last(step)
        self._write({"step": step, "minutes": round((time.time() - self.t0) / 60, 2), "final": True})
        self.log.close()
        print(f"done: {step} steps in {(time.time() - self.t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
