"""A tiny anchor-free plate detector (CenterNet-style heatmap + FCOS-style ltrb distances).

Backbone: depthwise-separable convolutions down to stride 32; a small top-down neck fuses
strides 32/16/8 back into a stride-4 head, because many plates are only 5-10 px tall at the
416 px input. Fully convolutional: any input whose sides are multiples of 32 works, so a
16:9 frame is letterboxed to 416x256 rather than 416x416.

Outputs (exported to ONNX):
  scores [N, 1, H/4, W/4]  sigmoid heatmap, already peak-filtered (3x3 max-pool: non-peaks = 0)
  ltrb   [N, 4, H/4, W/4]  distances (input pixels) from the cell centre to the box's
                           left, top, right and bottom edges
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

STRIDE = 4


def conv_bn(cin: int, cout: int, k: int = 1, s: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class DWBlock(nn.Module):
    """Depthwise kxk (stride s) + pointwise 1x1; residual when the shape is kept."""

    def __init__(self, cin: int, cout: int, s: int = 1, k: int = 3):
        super().__init__()
        self.dw = conv_bn(cin, cin, k, s, groups=cin, act=False)
        self.pw = conv_bn(cin, cout, 1)
        self.res = s == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pw(self.dw(x))
        return x + y if self.res else y


class PlateNet(nn.Module):
    def __init__(self, width: float = 1.0):
        super().__init__()
        c = [max(8, int(round(v * width / 8)) * 8) for v in (16, 32, 48, 80, 128)]
        n = max(16, int(round(48 * width / 8)) * 8)
        h = c[1]
        self.stem = conv_bn(3, c[0], 3, 2)  # s2
        self.s4 = nn.Sequential(DWBlock(c[0], c[1], 2), DWBlock(c[1], c[1]))
        self.s8 = nn.Sequential(DWBlock(c[1], c[2], 2), DWBlock(c[2], c[2]), DWBlock(c[2], c[2]))
        self.s16 = nn.Sequential(DWBlock(c[2], c[3], 2), DWBlock(c[3], c[3], k=5), DWBlock(c[3], c[3], k=5))
        self.s32 = nn.Sequential(DWBlock(c[3], c[4], 2), DWBlock(c[4], c[4], k=5), DWBlock(c[4], c[4], k=5))
        self.lat32 = conv_bn(c[4], n)
        self.lat16 = conv_bn(c[3], n)
        self.lat8 = conv_bn(c[2], n)
        self.fuse16 = DWBlock(n, n, k=5)
        self.fuse8 = DWBlock(n, n, k=5)
        self.lat4 = conv_bn(c[1], h)
        self.up8 = conv_bn(n, h)
        self.head = nn.Sequential(DWBlock(h, h), DWBlock(h, h))
        self.cls = nn.Conv2d(h, 1, 1)
        self.reg = nn.Conv2d(h, 4, 1)
        nn.init.constant_(self.cls.bias, -4.6)  # prior 0.01
        nn.init.constant_(self.reg.bias, 1.0)
        nn.init.normal_(self.reg.weight, std=0.01)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.stem(x)
        f4 = self.s4(x)
        f8 = self.s8(f4)
        f16 = self.s16(f8)
        f32 = self.s32(f16)
        p = self.lat32(f32)
        p = self.fuse16(self.lat16(f16) + F.interpolate(p, scale_factor=2.0, mode="nearest"))
        p = self.fuse8(self.lat8(f8) + F.interpolate(p, scale_factor=2.0, mode="nearest"))
        p = self.lat4(f4) + F.interpolate(self.up8(p), scale_factor=2.0, mode="nearest")
        p = self.head(p)
        # raw heat logits, log-distances (in stride units)
        return self.cls(p), self.reg(p)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features(x)


class ExportWrapper(nn.Module):
    """uint8-free float input [N,3,H,W] in 0..1 (RGB); outputs peak-filtered scores and ltrb px."""

    def __init__(self, net: PlateNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, reg = self.net(x)
        s = torch.sigmoid(logits)
        peak = F.max_pool2d(s, 3, 1, 1)
        s = s * (s >= peak).to(s.dtype)
        ltrb = torch.exp(reg.clamp(max=6.0)) * STRIDE
        return s, ltrb
