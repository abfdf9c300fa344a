"""The plate reader network: a small CNN with a fixed-slot head (fast-plate-ocr style).

Input uint8 [N, 64, 128, 3] RGB (the crop stretched to 128x64); output float32 [N, 9, 37]:
per slot a probability distribution over 0-9A-Z plus '_' (pad). Characters are read left to
right, top row first for two-line plates; the dense head sees the whole plate, so it can
place the rows' characters into slots itself.
"""

from __future__ import annotations

import torch
from torch import nn

from training.ocr.common import IMG_H, IMG_W, SLOTS, VOCAB


def cbr(cin, cout, k=3, s=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class PlateNet(nn.Module):
    def __init__(self, width=(16, 32, 64, 96, 128), hidden=256, dropout=0.2):
        super().__init__()
        c1, c2, c3, c4, c5 = width
        self.features = nn.Sequential(
            cbr(3, c1, 3, 2),        # 32x64
            cbr(c1, c2),             # 32x64
            nn.MaxPool2d(2),         # 16x32
            cbr(c2, c3),
            cbr(c3, c3),
            nn.MaxPool2d(2),         # 8x16
            cbr(c3, c4),
            cbr(c4, c4),
            cbr(c4, c5, 3, 2),       # 4x8
            cbr(c5, 48, 1),
        )
        feat = 48 * (IMG_H // 16) * (IMG_W // 16)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(feat, hidden),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout),
                                  nn.Linear(hidden, SLOTS * len(VOCAB)))

    def forward(self, x):  # x: float [N,3,H,W] in 0..1
        return self.head(self.features(x)).view(-1, SLOTS, len(VOCAB))


class ExportWrapper(nn.Module):
    """uint8 NHWC RGB in, probabilities out: the whole contract inside the graph."""

    def __init__(self, net: PlateNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        x = x.permute(0, 3, 1, 2).float() * (1.0 / 255.0)
        return torch.softmax(self.net(x), dim=-1)


class PlateNetCTC(nn.Module):
    """Same trunk, CTC head for one- and two-row plates: the 8x16 feature map is pooled into a
    top-half and a bottom-half row sequence (each with a learned row embedding), concatenated
    top row first; every step also sees a global summary of the plate (one row or two?) and
    emits two sub-steps, so T = 2 rows x 16 columns x 2 = 64."""

    steps = 2 * (IMG_W // 8) * 2

    def __init__(self, width=(16, 32, 64, 96, 128), dropout=0.1):
        super().__init__()
        c1, c2, c3, c4, c5 = width
        self.features = nn.Sequential(
            cbr(3, c1, 3, 2), cbr(c1, c2), nn.MaxPool2d(2),
            cbr(c2, c3), cbr(c3, c3), nn.MaxPool2d(2),
            cbr(c3, c4), cbr(c4, c4), cbr(c4, c5),  # 8x16
        )
        self.rows = nn.AdaptiveAvgPool2d((2, IMG_W // 8))
        self.row_emb = nn.Parameter(torch.zeros(1, c5, 2, 1))
        self.glob = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c5, c5))
        self.seq = nn.Sequential(nn.Conv1d(c5, c5, 3, padding=1), nn.BatchNorm1d(c5), nn.ReLU(inplace=True),
                                 nn.Dropout(dropout), nn.Conv1d(c5, 2 * len(VOCAB), 1))

    def forward(self, x):  # -> logits [N, T, C]
        f = self.features(x)
        r = self.rows(f) + self.row_emb               # N,C,2,W
        s = r.flatten(2)                              # N,C,2W (top row then bottom row)
        s = s + self.glob(f).unsqueeze(-1)
        o = self.seq(s)                               # N,2C,2W
        n, _, t = o.shape
        return o.view(n, 2, len(VOCAB), t).permute(0, 3, 1, 2).reshape(n, 2 * t, len(VOCAB))
