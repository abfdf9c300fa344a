"""Step 2: train the plate reader (CPU with 1 thread by default, or CUDA), exporting ONNX as it goes.

    python -m training.ocr.train --minutes 70 --work /work/scratch/ocr/run2
    python -m training.ocr.train --pack .gpu_data/ocr --device cuda --workers 6 --batch 256 \\
        --lr 3e-3 --minutes 9 --eval-every 500 --work $OUT/ocr

Reads the pickles written by `python -m training.ocr.prepare` from $OCR_SCRATCH, or the compact
pack written by `python -m training.ocr.pack` (--pack DIR). Each batch mixes real crops with
confident teacher labels, (slot head only) real crops distilled from the teacher's soft output,
CCPD/LPRNet crops with exact labels, and synthetic plates. With --workers N > 0 whole batches
are built by N DataLoader worker processes (own rng and synthetic ring buffer each); the main
process only trains. Learning rate follows a cosine over the wall-clock budget, which counts
from process start (data loading and worker start-up included). Every --eval-every steps the
EMA weights are scored on the detect val splits (teacher labels) and CCPD val (exact labels);
the best is exported.
"""

from __future__ import annotations

import time

_T0 = time.time()  # process start (before the heavy imports): the wall-clock budget counts from here

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT) not in sys.path:  # edge.synth (and training.*) importable in worker processes too
    sys.path.insert(0, str(_ROOT))

import argparse  # noqa: E402
import json  # noqa: E402
import pickle  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.data import DataLoader, IterableDataset, get_worker_info  # noqa: E402
from tqdm import tqdm  # noqa: E402

from training.ocr.augment import photometric, warp_crop  # noqa: E402
from training.ocr.common import PAD_INDEX, SCRATCH, VOCAB, encode, to_input  # noqa: E402
from training.ocr.distil import TOP_K, TeacherReader  # noqa: E402
from training.ocr.distil import targets as distil_targets  # noqa: E402
from training.ocr.model import ExportWrapper, PlateNet, PlateNetCTC  # noqa: E402
from training.ocr.synthetic import SynthSource  # noqa: E402

DEFAULT_WIDTH = (16, 32, 64, 96, 128)


def load(name):
    with open(SCRATCH / name, "rb") as f:
        return pickle.load(f)


def load_sets(pack: str | None) -> dict[str, list[dict]]:
    names = ("real_train", "real_val", "cn_train", "cn_val")
    if pack:
        from training.ocr.pack import load_pack
        sets = load_pack(pack)
        return {n: sets.get(n, []) for n in names}
    return {n: load(f"{n}.pkl") for n in names}


def in_context(plate: np.ndarray, scene: np.ndarray, rng: np.random.Generator):
    """(canvas, plate box): the synthetic plate pasted on a real train cut stretched around it,
    so a synthetic crop has a car's paint, shadow and frame around it as a real one does."""
    h, w = plate.shape[:2]
    px, py = rng.uniform(0.1, 0.4), rng.uniform(0.15, 0.6)
    W, H = int(w * (1 + 2 * px)), int(h * (1 + 2 * py))
    canvas = cv2.resize(scene, (W, H), interpolation=cv2.INTER_LINEAR)
    canvas = cv2.GaussianBlur(canvas, (0, 0), rng.uniform(0.5, 3.0))
    x0 = int(np.clip(W / 2 - w / 2 + rng.normal(0, 0.03) * w, 0, W - w))
    y0 = int(np.clip(H / 2 - h / 2 + rng.normal(0, 0.05) * h, 0, H - h))
    canvas[y0:y0 + h, x0:x0 + w] = plate
    return canvas, (float(x0), float(y0), float(w), float(h))


def label_weight(r: dict) -> dict:
    """A teacher label counts by how many of its views read it (1 for strict or exact labels)."""
    agree = r.get("tta_agree")
    w = 1.0 if agree is None or r.get("text_strict") == r["text"] else float(agree) ** 2
    return dict(r, weight=w)


def tta_val(items) -> list[dict]:
    """Val boxes whose teacher read agrees over 3/4 of its views: a second, wider val score."""
    return [dict(r, text=r["tta_text"]) for r in items
            if r.get("tta_agree", 0) >= 0.75 and 2 <= len(r.get("tta_text", "")) <= 9]


def to_tensor(batch_rgb: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(batch_rgb)).permute(0, 3, 1, 2).float().div_(255.0)
    return x


def decode(probs: np.ndarray, ctc: bool = False) -> list[str]:
    return decode_idx(probs.argmax(-1), ctc)


def decode_idx(idx: np.ndarray, ctc: bool = False) -> list[str]:
    if not ctc:
        return ["".join(VOCAB[i] for i in p if i != PAD_INDEX) for p in idx]
    out = []
    for p in idx:
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
def evaluate(net, xs, ys, src, chunk: int = 128):
    """xs: list of uint8 RGB HWC arrays, or a uint8 NCHW tensor already on the net's device."""
    net.eval()
    if isinstance(xs, list):
        xs = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    dev = next(net.parameters()).device
    idx = []
    for i in range(0, len(xs), chunk):
        x = xs[i:i + chunk].to(dev, non_blocking=True).float().div_(255.0)
        idx.append(net(x).argmax(-1).cpu())  # argmax of logits == argmax of softmax
    net.train()
    preds = decode_idx(torch.cat(idx).numpy(), isinstance(net, PlateNetCTC)) if idx else []
    per = {}
    for p, y, s in zip(preds, ys, src):
        a = per.setdefault(s, [0, 0])
        a[0] += int(p == y)
        a[1] += 1
    tot = sum(a for a, _ in per.values()), sum(n for _, n in per.values())
    return tot[0] / max(tot[1], 1), {k: f"{a}/{n}" for k, (a, n) in sorted(per.items())}


def ctc_over_alternatives(lp: torch.Tensor, y_alt: torch.Tensor, p_alt: torch.Tensor) -> torch.Tensor:
    """Per item: the probability-weighted mean over its alternative texts of the CTC loss per
    character. lp [T, N, C] log-probabilities, y_alt [N, K, SLOTS], p_alt [N, K] (0 = unused)."""
    n = p_alt.shape[0]
    item, alt = torch.nonzero(p_alt > 0, as_tuple=True)
    ys = y_alt[item, alt]
    lengths = (ys != PAD_INDEX).sum(1)
    per = F.ctc_loss(lp[:, item], ys[ys != PAD_INDEX],
                     torch.full((len(item),), lp.shape[0], dtype=torch.long, device=lp.device),
                     lengths, blank=PAD_INDEX, zero_infinity=True, reduction="none") / lengths.clamp_min(1)
    p = p_alt[item, alt]
    total = torch.zeros(n, device=lp.device).index_add_(0, item, per * p)
    return total / p_alt.sum(1).clamp_min(1e-9)


def export(net, path: Path):
    wrapper = ExportWrapper(net).eval()
    torch.onnx.export(wrapper, torch.zeros(1, 64, 128, 3, dtype=torch.uint8), str(path),
                      input_names=["input"], output_names=["probs"],
                      dynamic_axes={"input": {0: "n"}, "probs": {0: "n"}}, opset_version=17,
                      dynamo=False)


def cpu_copy(Net, width, net) -> torch.nn.Module:
    m = Net(width=width)
    m.load_state_dict({k: v.detach().cpu() for k, v in net.state_dict().items()})
    return m.eval()


class BatchMaker:
    """Builds whole training batches: uint8 x [B,3,64,128] RGB, targets [B,9] (pad-filled),
    soft targets / mask (slot head only; empty tensors otherwise). Keeps its own rng and
    synthetic ring buffer (recent plates reused with new augmentation; once the pool holds 500,
    only a third of each batch's synthetic share is freshly rendered)."""

    POOL = 4000

    def __init__(self, hard, soft, cn, mix, seed, synth_seed, log=None, edge_cut: float = 0.0,
                 context: float = 0.0, real_all=()):
        self.hard, self.soft, self.cn, self.mix = hard, soft, cn, mix
        self.edge_cut, self.context = edge_cut, context
        self.real_all = list(real_all)  # every real train box, labelled or not (--distil)
        self.teacher = None
        self.rng = np.random.default_rng(seed)
        self.synth = SynthSource(synth_seed)
        self.pool: list = []
        self.n = 0
        self.log = log

    def make(self):
        rng, mix, pool, synth = self.rng, self.mix, self.pool, self.synth
        if self.n % 500 == 0 and synth.renderer is None and synth.try_load() and self.log:
            self.log(f"batch {self.n}: switched to the edge.synth renderer")
        self.n += 1
        use_soft = mix["soft"] > 0
        xs, ys, soft_t, soft_mask, wts = [], [], [], [], []
        alt: list[tuple[np.ndarray, np.ndarray]] = []  # (texts, probabilities) per item, --distil
        zero = np.zeros((9, 37), np.float32)
        for r in (self.hard[i] for i in rng.integers(0, len(self.hard), mix["hard"])):
            xs.append(photometric(warp_crop(r["cut"], r["box"], rng, edge_cut=self.edge_cut), rng))
            ys.append(encode(r["text"]))
            soft_mask.append(0.0); soft_t.append(zero); wts.append(r.get("weight", 1.0))
        n_distil = mix.get("distil", 0)
        first_distilled = len(ys)
        if n_distil:
            views = [photometric(warp_crop(r["cut"], r["box"], rng, edge_cut=self.edge_cut), rng)
                     for r in (self.real_all[i] for i in rng.integers(0, len(self.real_all), n_distil))]
            if self.teacher is None:
                self.teacher = TeacherReader()
            reads = self.teacher.read(np.stack([cv2.cvtColor(v, cv2.COLOR_BGR2RGB) for v in views]))
            for v, rd in zip(views, reads):
                if not rd:  # nothing the teacher would read: no target
                    continue
                xs.append(v)
                ys.append(encode(rd[0][0]))
                soft_mask.append(0.0); soft_t.append(zero); wts.append(min(1.0, sum(p for _, p in rd)))
                alt.append(distil_targets(rd))
        for r in (self.soft[i] for i in rng.integers(0, len(self.soft), mix["soft"]) if use_soft):
            xs.append(photometric(warp_crop(r["cut"], r["box"], rng, strength=0.5), rng))
            ys.append(np.full(9, -100, np.int64)); wts.append(1.0)
            soft_mask.append(1.0); soft_t.append(r["teacher_probs"].astype(np.float32))
        for r in (self.cn[i] for i in rng.integers(0, len(self.cn), mix["cn"])):
            xs.append(photometric(warp_crop(r["cut"], r["box"], rng, tight=r.get("tight", False)), rng))
            ys.append(encode(r["text"])); soft_mask.append(0.0); soft_t.append(zero); wts.append(1.0)
        n_new = mix["synth"] // 3 if len(pool) >= 500 else mix["synth"]
        for _ in range(n_new):
            img, text = synth.sample()
            if len(pool) < self.POOL:
                pool.append((img, text))
            else:
                pool[int(rng.integers(0, self.POOL))] = (img, text)
        for k in rng.integers(0, len(pool), mix["synth"]):
            img, text = pool[k]
            h, w = img.shape[:2]
            if self.context and rng.random() < self.context:  # the plate on a car, cut as a box
                canvas, box = in_context(img, self.hard[int(rng.integers(len(self.hard)))]["cut"], rng)
                view = warp_crop(canvas, box, rng, edge_cut=self.edge_cut)
            else:
                view = warp_crop(img, (0, 0, w, h), rng, tight=True, edge_cut=self.edge_cut)
            xs.append(photometric(view, rng))
            ys.append(encode(text)); soft_mask.append(0.0); soft_t.append(zero); wts.append(1.0)
        x = torch.from_numpy(np.stack([cv2.cvtColor(i, cv2.COLOR_BGR2RGB) for i in xs])).permute(0, 3, 1, 2)
        y = torch.from_numpy(np.stack(ys))
        w = torch.tensor(wts, dtype=torch.float32)
        if n_distil:  # every other item has its one label as its only alternative
            plain = [(np.stack([yy] + [np.full(9, PAD_INDEX, np.int64)] * (TOP_K - 1)),
                      np.array([1.0] + [0.0] * (TOP_K - 1), np.float32)) for yy in ys]
            alts = plain[:first_distilled] + alt + plain[first_distilled + len(alt):]
            y_alt = torch.from_numpy(np.stack([a for a, _ in alts]))
            p_alt = torch.from_numpy(np.stack([p for _, p in alts]))
        else:
            y_alt = p_alt = torch.zeros(0)
        if use_soft:
            return x.contiguous(), y, w, torch.from_numpy(np.stack(soft_t)), torch.tensor(soft_mask), y_alt, p_alt
        return x.contiguous(), y, w, torch.zeros(0), torch.zeros(0), y_alt, p_alt


class BatchStream(IterableDataset):
    """Endless stream of ready batches; each DataLoader worker has its own BatchMaker seeded
    with (seed, worker id)."""

    def __init__(self, hard, soft, cn, mix, seed, edge_cut: float = 0.0, context: float = 0.0,
                 real_all=()):
        super().__init__()
        self.hard, self.soft, self.cn, self.mix, self.seed = hard, soft, cn, mix, seed
        self.edge_cut, self.context, self.real_all = edge_cut, context, real_all

    def __iter__(self):
        info = get_worker_info()
        wid = info.id if info is not None else 0
        torch.set_num_threads(1)
        cv2.setNumThreads(1)
        maker = BatchMaker(self.hard, self.soft, self.cn, self.mix, seed=[self.seed, wid], edge_cut=self.edge_cut,
                           context=self.context, real_all=self.real_all,
                           synth_seed=[self.seed, wid, 1],
                           log=(lambda m: print(f"[worker {wid}] {m}", flush=True)) if wid == 0 else None)
        while True:
            yield maker.make()


def log_line(msg: str):
    tqdm.write(msg, file=sys.stdout)
    sys.stdout.flush()


def parse_args(argv=None) -> argparse.Namespace:
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
    ap.add_argument("--resume", default=None, help="go on with an interrupted run from its last.pt: "
                    "weights, EMA, optimiser, step and the learning-rate schedule; --minutes is the "
                    "whole run's budget, of which the time already trained is spent")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pack", default=None, help="folder with ocr_pack.pkl (training.ocr.pack) "
                    "instead of the $OCR_SCRATCH pickles")
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes building "
                    "batches (0: build them in the training process)")
    ap.add_argument("--width", default=",".join(map(str, DEFAULT_WIDTH)),
                    help="trunk widths c1..c5, e.g. 24,48,96,128,160")
    ap.add_argument("--no-bar", action="store_true", help="no tqdm bar (plain log lines only)")
    ap.add_argument("--context", type=float, default=0.0, help="share of synthetic plates pasted on "
                    "the surroundings of a real train crop and cut with the real crops' margins")
    ap.add_argument("--edge-cut", type=float, default=0.0, help="share of real and synthetic crops cut "
                    "into the plate on one side (up to 4%% of its width)")
    ap.add_argument("--extra-min-p", type=float, default=0.0,
                    help="also train on real train boxes whose teacher read failed the agreement "
                         "filter but has every slot >= this probability and 4..8 characters "
                         "(0: off)")
    ap.add_argument("--distil", type=int, default=0,
                    help="add this many crops per batch from every real train box (labelled or "
                         "not), each augmented view read online by the teacher; the student learns "
                         "the teacher's likeliest texts by CTC, weighted by their probabilities")
    return ap.parse_args(argv)


def main(argv=None):
    t0 = _T0 if __name__ == "__main__" else time.time()  # budget includes imports, loading, worker start-up
    args = parse_args(argv)
    width = tuple(int(v) for v in args.width.split(","))
    assert len(width) == 5, "--width takes five comma-separated channel counts"
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda but CUDA is not available")
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    sets = training_sets(args)
    # start the batch workers before any CUDA / torch compute in this process (fork-safe)
    next_batch, synth_kind = batch_source(args, sets, dev)
    log_line(f"real hard {len(sets.hard)}, real soft {len(sets.soft)}, cn {len(sets.cn)}, val {len(sets.val[0])}, "
             f"synth {synth_kind}, mix {sets.mix}, device {dev}, workers {args.workers}, width {width}, "
             f"loaded in {time.time() - t0:.1f}s")
    trainer = Trainer(args, width, dev, work, t0, sets)
    trainer.run(next_batch, synth_kind)
    trainer.finish()
    if args.workers > 0:
        del next_batch  # shuts the workers down


class TrainingSets:
    """The train items by kind, the batch mix and the two val sets (inputs, texts, sources)."""

    def __init__(self, hard, soft, cn, val, val_tta, mix, real_all=()):
        self.hard, self.soft, self.cn, self.val, self.val_tta, self.mix = hard, soft, cn, val, val_tta, mix
        self.real_all = real_all


def training_sets(args: argparse.Namespace) -> TrainingSets:
    sets = load_sets(args.pack)
    real = sets["real_train"]
    hard = [label_weight(r) for r in real if r.get("text")]
    if args.extra_min_p > 0:
        hard += [dict(r, text=r["teacher_text"]) for r in real
                 if not r.get("text") and r.get("teacher_p", 0) >= args.extra_min_p
                 and 4 <= len(r.get("teacher_text", "")) <= 8]
    soft = [r for r in real if not r.get("text") and r.get("teacher_p", 0) >= 0.3
            and 3 <= len(r.get("teacher_text", "")) <= 9 and "teacher_probs" in r]
    val = val_inputs(sets["real_val"] + sets["cn_val"])
    val_tta = val_inputs(tta_val(sets["real_val"]))
    mix = batch_mix(args.batch, args.head, bool(soft))
    if args.distil:
        assert args.head == "ctc", "--distil trains the CTC head"
        mix["distil"] = args.distil
    return TrainingSets(hard, soft, sets["cn_train"], val, val_tta, mix, real if args.distil else ())


def batch_mix(batch: int, head: str, has_soft: bool) -> dict[str, int]:
    """How many items of each kind a batch holds: the proportions of a 64 batch."""
    mix = {"hard": 26, "soft": 8, "cn": 6}
    mix["synth"] = batch - sum(mix.values())
    if head == "ctc" or not has_soft:  # soft (slot) targets do not apply / absent: more real-hard
        mix["hard"] += mix.pop("soft")
        mix["soft"] = 0
    if batch != 64:  # keep the proportions of the 64 batch
        base = dict(mix)
        for k in ("hard", "soft", "cn"):
            mix[k] = int(round(base[k] * batch / 64))
        mix["synth"] = batch - mix["hard"] - mix["soft"] - mix["cn"]
    return mix


def batch_source(args: argparse.Namespace, sets: TrainingSets, dev: torch.device):
    """(next_batch, the synthetic renderer's kind): batches from --workers processes, or built
    here."""
    if args.workers > 0:
        stream = BatchStream(sets.hard, sets.soft, sets.cn, sets.mix, args.seed, args.edge_cut, args.context,
                             sets.real_all)
        loader = DataLoader(stream, batch_size=None, num_workers=args.workers, pin_memory=dev.type == "cuda",
                            persistent_workers=True, prefetch_factor=4, timeout=300)
        batches = iter(loader)
        return batches.__next__, SynthSource(args.seed + 1).kind  # what the workers use (same import)
    maker = BatchMaker(sets.hard, sets.soft, sets.cn, sets.mix, seed=args.seed, synth_seed=args.seed + 1,
                       log=log_line, edge_cut=args.edge_cut, context=args.context,
                       real_all=sets.real_all)
    return maker.make, maker.synth.kind


class Trainer:
    """The net, its EMA and optimiser, the wall-clock schedule and the run's checkpoints in --work."""

    def __init__(self, args: argparse.Namespace, width: tuple[int, ...], dev: torch.device, work: Path,
                 t0: float, sets: TrainingSets) -> None:
        self.args, self.width, self.dev, self.work, self.t0 = args, width, dev, work, t0
        self.budget = args.minutes * 60.0
        self.deadline = t0 + self.budget
        self.Net = PlateNetCTC if args.head == "ctc" else PlateNet
        self.net, self.ema, resumed = self._nets()
        self.ema_f, self.net_f, self.ema_i, self.net_i = [], [], [], []
        for pe, pn in zip(self.ema.state_dict().values(), self.net.state_dict().values()):
            (self.ema_f if pe.dtype.is_floating_point else self.ema_i).append(pe)
            (self.net_f if pn.dtype.is_floating_point else self.net_i).append(pn)
        (xv, self.yv, self.sv), (xw, self.yw, self.sw) = sets.val, sets.val_tta
        self.xv_t = torch.from_numpy(np.stack(xv)).permute(0, 3, 1, 2).contiguous().to(dev)
        self.xw_t = torch.from_numpy(np.stack(xw)).permute(0, 3, 1, 2).contiguous().to(dev) if xw else None
        self.eval_chunk = 1024 if dev.type == "cuda" else 128
        self.opt = torch.optim.AdamW(self.net.parameters(), lr=args.lr, weight_decay=1e-4)
        self.step, self.best, self.log = 0, -1.0, []
        self.trained_before = 0.0
        if resumed is not None:
            self.opt.load_state_dict(resumed["opt"])
            self.step, self.best = resumed["step"], resumed.get("best", -1.0)
            self.trained_before = resumed.get("trained_s", 0.0)
            self.log = json.loads((work / "log.json").read_text()) if (work / "log.json").exists() else []
            self.deadline -= self.trained_before  # the budget already spent
        self.t_start: float | None = None

    def _nets(self):
        """(net, EMA, the --resume checkpoint or None), on the device."""
        args, width, dev = self.args, self.width, self.dev
        net = self.Net(width=width)
        ema = self.Net(width=width)
        if args.init:
            ck = torch.load(args.init, map_location="cpu")
            net.load_state_dict(ck.get("ema", ck) if isinstance(ck, dict) and "ema" in ck else ck)
            log_line(f"initialised from {args.init}")
        ema.load_state_dict(net.state_dict())
        resumed = torch.load(args.resume, map_location="cpu") if args.resume else None
        if resumed is not None:
            net.load_state_dict(resumed["net"])
            ema.load_state_dict(resumed["ema"])
            log_line(f"resuming {args.resume} at step {resumed['step']}, "
                     f"{resumed.get('trained_s', 0) / 60:.1f} min trained")
        for p in ema.parameters():
            p.requires_grad_(False)
        net.to(dev)
        ema.to(dev)
        if dev.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        return net, ema, resumed

    def run(self, next_batch, synth_kind: str) -> None:
        """Train until the deadline, scoring and saving every --eval-every steps."""
        args = self.args
        bar = None if args.no_bar else tqdm(
            total=int(self.budget), unit="s", desc="train", bar_format="{l_bar}{bar}| {n:.0f}/{total}s {postfix}",
            mininterval=2.0)
        t_last, step_last = time.time(), 0
        while True:
            now = time.time()
            if now >= self.deadline:
                break
            batch = next_batch()
            if self.t_start is None:
                self.t_start = time.time()
                log_line(f"first batch after {self.t_start - self.t0:.1f}s")
            now = time.time()
            if now >= self.deadline:
                break
            lr = self.lr_at(now)
            ce, kl, loss = self.train_step(batch, lr)
            self.step += 1
            if bar is not None and self.step % 20 == 0:
                bar.n = min(int(time.time() - self.t0), int(self.budget))
                bar.set_postfix_str(f"step {self.step} ce {ce.item():.3f} kl {kl.item():.3f} lr {lr:.1e} "
                                    f"best {self.best:.3f}")
            if self.step % args.eval_every == 0:
                seconds_per_step = (time.time() - t_last) / max(self.step - step_last, 1)
                self.evaluate_and_save(loss, ce, lr, synth_kind, seconds_per_step)
                t_last, step_last = time.time(), self.step
        if bar is not None:
            bar.close()

    def lr_at(self, now: float) -> float:
        """A linear warm-up over --warmup steps, then a cosine over the wall-clock budget."""
        args, step = self.args, self.step
        trained = now - self.t_start + self.trained_before
        frac = trained / max(self.deadline - self.t_start + self.trained_before, 1e-6)
        return args.lr * (min(1.0, step / args.warmup) if step < args.warmup else 0.5 * (1 + np.cos(np.pi * frac)))

    def train_step(self, batch, lr: float):
        """One optimiser step on `batch` at `lr`, then the EMA update; returns (ce, kl, loss)."""
        x, y, wts, soft_t, soft_mask, y_alt, p_alt = batch
        dev, net = self.dev, self.net
        for g in self.opt.param_groups:
            g["lr"] = lr
        x = x.to(dev, non_blocking=True).float().div_(255.0)
        y = y.to(dev, non_blocking=True)
        logits = net(x)
        if self.args.head == "ctc":
            lp = F.log_softmax(logits, -1).transpose(0, 1)  # T,N,C
            if y_alt.numel():
                per = ctc_over_alternatives(lp, y_alt.to(dev), p_alt.to(dev))
            else:
                lengths = (y != PAD_INDEX).sum(1)
                per = F.ctc_loss(lp, y[y != PAD_INDEX], torch.full((len(y),), lp.shape[0], dtype=torch.long,
                                                                   device=dev),
                                 lengths, blank=PAD_INDEX, zero_infinity=True, reduction="none")
                per = per / lengths.clamp_min(1)
            wts = wts.to(dev, non_blocking=True)
            ce = (per * wts).sum() / wts.sum()  # the "mean" reduction, weighted
        else:
            ce = F.cross_entropy(logits.reshape(-1, 37), y.reshape(-1), ignore_index=-100,
                                 label_smoothing=0.05)
        if soft_mask.numel() and float(soft_mask.sum()) > 0:
            m = soft_mask.to(dev, non_blocking=True)
            t = soft_t.to(dev, non_blocking=True)
            kl = (t * (torch.log(t.clamp_min(1e-6)) - F.log_softmax(logits, -1))).sum(-1).mean(-1)
            kl = (kl * m).sum() / m.sum()
            loss = ce + 0.5 * kl
        else:
            kl = torch.zeros((), device=dev)
            loss = ce
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        self.opt.step()
        d = min(0.999, (1 + self.step) / (10 + self.step))
        with torch.no_grad():
            torch._foreach_lerp_(self.ema_f, self.net_f, 1 - d)  # ema = d * ema + (1 - d) * net
            for pe, pn in zip(self.ema_i, self.net_i):
                pe.copy_(pn)
        return ce, kl, loss

    def evaluate_and_save(self, loss, ce, lr: float, synth_kind: str, seconds_per_step: float) -> None:
        """Score the EMA weights on both val sets, log it, save last.pt, and best_ema.pt and
        best.onnx when it is the best so far."""
        step, width, work = self.step, self.width, self.work
        acc, per = evaluate(self.ema, self.xv_t, self.yv, self.sv, self.eval_chunk)
        acc_w, per_w = evaluate(self.ema, self.xw_t, self.yw, self.sw, self.eval_chunk) \
            if self.xw_t is not None else (0.0, {})
        rec = {"step": step, "min": round((time.time() - self.t0) / 60, 2), "loss": round(loss.item(), 4),
               "ce": round(ce.item(), 4), "lr": float(f"{lr:.3g}"), "val_acc": round(acc, 4),
               "per_source": per, "val_tta": round(acc_w, 4), "per_source_tta": per_w, "synth": synth_kind,
               "steps_per_s": round(1 / max(seconds_per_step, 1e-9), 2), "width": list(width)}
        self.log.append(rec)
        log_line(json.dumps(rec))
        torch.save({"net": self.net.state_dict(), "ema": self.ema.state_dict(), "opt": self.opt.state_dict(),
                    "step": step, "width": list(width), "best": max(self.best, acc),
                    "trained_s": self.trained_before + time.time() - self.t_start}, work / "last.pt")
        if acc > self.best:
            self.best = acc
            torch.save(self.ema.state_dict(), work / "best_ema.pt")
            export(cpu_copy(self.Net, width, self.ema), work / "best.onnx")
        (work / "log.json").write_text(json.dumps(self.log, indent=1))

    def finish(self) -> None:
        """The final score and final_ema.pt / final.onnx (and best_* when no evaluation ran)."""
        step, width, work, ema = self.step, self.width, self.work, self.ema
        t_end = time.time()
        acc, per = evaluate(ema, self.xv_t, self.yv, self.sv, self.eval_chunk)
        self.log.append({"step": step, "final": True, "val_acc": round(acc, 4), "per_source": per,
                         "train_s": round(t_end - (self.t_start or t_end), 1), "width": list(width)})
        torch.save(ema.state_dict(), work / "final_ema.pt")
        export(cpu_copy(self.Net, width, ema), work / "final.onnx")
        if self.best < 0 or not (work / "best.onnx").exists():  # no evaluation ran: final is the best so far
            self.best = acc
            torch.save(ema.state_dict(), work / "best_ema.pt")
            export(cpu_copy(self.Net, width, ema), work / "best.onnx")
        (work / "log.json").write_text(json.dumps(self.log, indent=1))
        rate = step / max(t_end - (self.t_start or t_end), 1e-9)
        log_line(f"final val acc {acc:.4f} {per}; best {self.best:.4f}; steps {step} ({rate:.2f}/s); "
                 f"total {time.time() - self.t0:.1f}s")


if __name__ == "__main__":
    main()
