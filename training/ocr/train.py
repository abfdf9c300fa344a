"""Step 2: train the plate reader on CPU (1 thread), exporting ONNX as it goes.

    python -m training.ocr.train --minutes 70 --work /work/scratch/ocr/run2

Reads the pickles written by `python -m training.ocr.prepare` from $OCR_SCRATCH. Each batch
mixes real crops with confident teacher labels, (slot head only) real crops distilled from the
teacher's soft output, CCPD/LPRNet crops with exact labels, and synthetic plates. Learning rate follows a
cosine over the wall-clock budget. Every --eval-every steps the EMA weights are scored on the
detect val splits (teacher labels) and CCPD val (exact labels); the best is exported.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from training.ocr.augment import photometric, warp_crop
from training.ocr.common import PAD_INDEX, SCRATCH, VOCAB, encode, to_input
from training.ocr.model import ExportWrapper, PlateNet, PlateNetCTC
from training.ocr.synthetic import SynthSource


def load(name):
    with open(SCRATCH / name, "rb") as f:
        return pickle.load(f)


def to_tensor(batch_rgb: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(batch_rgb)).permute(0, 3, 1, 2).float().div_(255.0)
    return x


def decode(probs: np.ndarray, ctc: bool = False) -> list[str]:
    if not ctc:
        return ["".join(VOCAB[i] for i in p.argmax(-1) if i != PAD_INDEX) for p in probs]
    out = []
    for p in probs.argmax(-1):
        keep = [k for j, k in enumerate(p) if k != PAD_INDEX and (j == 0 or k != p[j - 1])]
        out.append("".join(VOCAB[k] for k in keep))
    return out


def val_inputs(items):
    xs, ys, src = [], [], []
    for r in items:
        if not r.get("text"):
            continue
        x, y, w, h = r["box"]
        mx, my = (0.0, 0.0) if r.get("tight") else (0.06, 0.12)
        H, W = r["cut"].shape[:2]
        x1, y1 = max(0, int(x - mx * w)), max(0, int(y - my * h))
        x2, y2 = min(W, int(round(x + w + mx * w))), min(H, int(round(y + h + my * h)))
        xs.append(to_input(r["cut"][y1:y2, x1:x2]))
        ys.append(r["text"])
        src.append(r["source"])
    return xs, ys, src


@torch.no_grad()
def evaluate(net, xs, ys, src):
    net.eval()
    preds = []
    for i in range(0, len(xs), 128):
        p = torch.softmax(net(to_tensor(xs[i:i + 128])), -1).numpy()
        preds += decode(p, isinstance(net, PlateNetCTC))
    net.train()
    per = {}
    for p, y, s in zip(preds, ys, src):
        a = per.setdefault(s, [0, 0])
        a[0] += int(p == y)
        a[1] += 1
    tot = sum(a for a, _ in per.values()), sum(n for _, n in per.values())
    return tot[0] / max(tot[1], 1), {k: f"{a}/{n}" for k, (a, n) in sorted(per.items())}


def export(net, path: Path):
    wrapper = ExportWrapper(net).eval()
    torch.onnx.export(wrapper, torch.zeros(1, 64, 128, 3, dtype=torch.uint8), str(path),
                      input_names=["input"], output_names=["probs"],
                      dynamic_axes={"input": {0: "n"}, "probs": {0: "n"}}, opset_version=17,
                      dynamo=False)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", default=str(SCRATCH / "run"))
    ap.add_argument("--minutes", type=float, default=65.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1.5e-3)
    ap.add_argument("--eval-every", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--head", choices=("slots", "ctc"), default="ctc")
    ap.add_argument("--init", default=None, help="start from a checkpoint (last.pt or *_ema.pt)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    real = load("real_train.pkl")
    hard = [r for r in real if r.get("text")]
    soft = [r for r in real if not r.get("text") and r["teacher_p"] >= 0.3
            and 3 <= len(r["teacher_text"]) <= 9]
    cn = load("cn_train.pkl")
    xv, yv, sv = val_inputs(load("real_val.pkl") + load("cn_val.pkl"))
    synth = SynthSource(args.seed + 1)
    print(f"real hard {len(hard)}, real soft {len(soft)}, cn {len(cn)}, val {len(xv)}, synth {synth.kind}")
    mix = {"hard": 26, "soft": 8, "cn": 6}
    mix["synth"] = args.batch - sum(mix.values())
    pool: list = []  # recent synthetic plates, each reused a few times with new augmentation
    POOL = 4000

    Net = PlateNetCTC if args.head == "ctc" else PlateNet
    if args.head == "ctc":  # soft (slot) targets do not apply: more real-hard instead
        mix["hard"] += mix.pop("soft")
        mix["soft"] = 0
    net = Net()
    ema = Net()
    if args.init:
        ck = torch.load(args.init, map_location="cpu")
        net.load_state_dict(ck.get("ema", ck) if isinstance(ck, dict) and "ema" in ck else ck)
        print(f"initialised from {args.init}")
    ema.load_state_dict(net.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    budget = args.minutes * 60.0
    t0 = time.time()
    step, best, log = 0, -1.0, []
    bar = tqdm(total=int(budget), unit="s", desc="train", bar_format="{l_bar}{bar}| {n:.0f}/{total}s {postfix}",
               mininterval=2.0)
    while True:
        el = time.time() - t0
        if el >= budget:
            break
        frac = el / budget
        lr = args.lr * (min(1.0, step / args.warmup) if step < args.warmup else 0.5 * (1 + np.cos(np.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = lr
        if step % 500 == 0 and synth.renderer is None and synth.try_load():
            tqdm.write(f"step {step}: switched to the edge.synth renderer")
        xs, ys, soft_t, soft_mask = [], [], [], []
        for r in (hard[i] for i in rng.integers(0, len(hard), mix["hard"])):
            xs.append(photometric(warp_crop(r["cut"], r["box"], rng), rng)); ys.append(encode(r["text"]))
            soft_mask.append(0.0); soft_t.append(np.zeros((9, 37), np.float32))
        for r in (soft[i] for i in rng.integers(0, len(soft), mix["soft"]) if mix["soft"]):
            xs.append(photometric(warp_crop(r["cut"], r["box"], rng, strength=0.5), rng))
            ys.append(np.full(9, -100, np.int64))
            soft_mask.append(1.0); soft_t.append(r["teacher_probs"].astype(np.float32))
        for r in (cn[i] for i in rng.integers(0, len(cn), mix["cn"])):
            xs.append(photometric(warp_crop(r["cut"], r["box"], rng, tight=r.get("tight", False)), rng))
            ys.append(encode(r["text"])); soft_mask.append(0.0); soft_t.append(np.zeros((9, 37), np.float32))
        n_new = mix["synth"] // 3 if len(pool) >= 500 else mix["synth"]
        for _ in range(n_new):
            img, text = synth.sample()
            if len(pool) < POOL:
                pool.append((img, text))
            else:
                pool[int(rng.integers(0, POOL))] = (img, text)
        for k in rng.integers(0, len(pool), mix["synth"]):
            img, text = pool[k]
            h, w = img.shape[:2]
            xs.append(photometric(warp_crop(img, (0, 0, w, h), rng, tight=True), rng))
            ys.append(encode(text)); soft_mask.append(0.0); soft_t.append(np.zeros((9, 37), np.float32))
        x = to_tensor([cv2.cvtColor(i, cv2.COLOR_BGR2RGB) for i in xs])
        y = torch.from_numpy(np.stack(ys))
        logits = net(x)
        if args.head == "ctc":
            lengths = (y != PAD_INDEX).sum(1)
            targets = y[y != PAD_INDEX]
            lp = F.log_softmax(logits, -1).transpose(0, 1)  # T,N,C
            ce = F.ctc_loss(lp, targets, torch.full((len(y),), lp.shape[0], dtype=torch.long), lengths,
                            blank=PAD_INDEX, zero_infinity=True)
        else:
            ce = F.cross_entropy(logits.reshape(-1, 37), y.reshape(-1), ignore_index=-100,
                                 label_smoothing=0.05)
        m = torch.tensor(soft_mask)
        if m.sum() > 0:
            t = torch.from_numpy(np.stack(soft_t))
            kl = (t * (torch.log(t.clamp_min(1e-6)) - F.log_softmax(logits, -1))).sum(-1).mean(-1)
            kl = (kl * m).sum() / m.sum()
            loss = ce + 0.5 * kl
        else:
            kl = torch.zeros(())
            loss = ce
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        d = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pn in zip(ema.state_dict().values(), net.state_dict().values()):
                if pe.dtype.is_floating_point:
                    pe.mul_(d).add_(pn.detach(), alpha=1 - d)
                else:
                    pe.copy_(pn)
        step += 1
        bar.n = min(int(time.time() - t0), int(budget))
        bar.set_postfix_str(f"step {step} ce {ce.item():.3f} kl {kl.item():.3f} lr {lr:.1e} best {best:.3f}")
        if step % args.eval_every == 0:
            acc, per = evaluate(ema, xv, yv, sv)
            rec = {"step": step, "min": round((time.time() - t0) / 60, 1), "loss": round(loss.item(), 4),
                   "val_acc": round(acc, 4), "per_source": per, "synth": synth.kind}
            log.append(rec)
            tqdm.write(json.dumps(rec))
            torch.save({"net": net.state_dict(), "ema": ema.state_dict(), "step": step}, work / "last.pt")
            if acc > best:
                best = acc
                torch.save(ema.state_dict(), work / "best_ema.pt")
                export(ema, work / "best.onnx")
            (work / "log.json").write_text(json.dumps(log, indent=1))
    bar.close()
    acc, per = evaluate(ema, xv, yv, sv)
    log.append({"step": step, "final": True, "val_acc": round(acc, 4), "per_source": per})
    torch.save(ema.state_dict(), work / "final_ema.pt")
    export(ema, work / "final.onnx")
    (work / "log.json").write_text(json.dumps(log, indent=1))
    print(f"final val acc {acc:.4f} {per}; best {best:.4f}; steps {step}")


if __name__ == "__main__":
    main()
