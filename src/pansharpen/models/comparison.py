"""The CNN baselines of the SpanConv and LGPConv papers' tables: PNN, PanNet, DiCNN, FusionNet.

Written from the papers' descriptions (same-size zero padding everywhere, so that every
network keeps the PAN grid; ``C`` bands, input ``cat[pan, lms]`` PAN first as in the
SpanConv/LGPConv code). PyTorch's default conv init. Parameter counts (8 / 4 bands) against
the figures published in the LGPConv paper's Tables 2 (WV3) and 3 (GF-2/QB) and the
SpanConv README table (seed-implementations 1.7):

=========  ==========================================================  =================  ==============
name       architecture                                                 ours (8 / 4)       published
=========  ==========================================================  =================  ==============
pnn        Masi et al. 2016: 9x9 conv 64, ReLU, 5x5 conv 32, ReLU,      104,360 / 80,420   104K / 80K
           5x5 conv C (predicts the image; no residual)
pannet     Yang et al. ICCV 2017: high-pass inputs (x - 5x5 box mean);  83,024 / 77,640    83K / 78K
           MS high-pass upsampled by ConvTranspose 8x8 stride 4;
           3x3 conv 32, ReLU, 4 ResBlocks(32), 3x3 conv C; + lms
dicnn      He et al. 2019 (DiCNN1): 3x3 conv 64, ReLU, 3x3 conv 64,     46,792 / 42,180    47K / 43K
           ReLU, 3x3 conv C; + lms (detail injection)
fusionnet  Deng et al. TGRS 2021: input pan replicated to C bands       78,632 / 76,324    79K / 76K
           minus lms; 3x3 conv 32, ReLU, 4 ResBlocks(32), 3x3 conv C;
           + lms
=========  ==========================================================  =================  ==============

ResBlock = ``x + conv(ReLU(conv(x)))`` (3x3, 32 channels, with biases).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .base import FusionModel
from .complexity import ComplexityMixin
from .registry import register

__all__ = ["PNN", "PanNet", "DiCNN", "FusionNet", "high_pass"]


def _conv(cin: int, cout: int, k: int = 3) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding=k // 2)


class ResBlock(nn.Module):
    """``x + conv2(ReLU(conv1(x)))``, 3x3 convs with bias."""

    def __init__(self, channels: int = 32):
        super().__init__()
        self.conv1 = _conv(channels, channels)
        self.conv2 = _conv(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(x)))


def high_pass(x: torch.Tensor, size: int = 5) -> torch.Tensor:
    """``x - box_mean_size(x)`` per channel (PanNet's high-pass; edges replicated). ``(N, C, H, W)``."""
    r = size // 2
    low = F.avg_pool2d(F.pad(x, (r, r, r, r), mode="replicate"), size, stride=1)
    return x - low


class PNN(ComplexityMixin, FusionModel):
    """PNN (Masi, Cozzolino, Verdoliva, Scarpa, Remote Sensing 2016), 'same' padding."""

    def __init__(self, bands: int = 8):
        super().__init__()
        self.bands = bands
        self.body = nn.Sequential(_conv(bands + 1, 64, 9), nn.ReLU(), _conv(64, 32, 5), nn.ReLU(), _conv(32, bands, 5))

    def fuse(self, ms, pan, lms):
        return self.body(torch.cat([pan, lms], dim=1))


class PanNet(ComplexityMixin, FusionModel):
    """PanNet (Yang et al., ICCV 2017): high-pass domain, learned upsampling, ResNet blocks, + lms."""

    def __init__(self, bands: int = 8, blocks: int = 4, channels: int = 32):
        super().__init__()
        self.bands = bands
        # kernel 8, stride 4, padding 2: h -> 4h exactly
        self.upsample_hp = nn.ConvTranspose2d(bands, bands, 8, stride=4, padding=2)
        self.head = nn.Sequential(_conv(bands + 1, channels), nn.ReLU())
        self.body = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])
        self.tail = _conv(channels, bands)

    def fuse(self, ms, pan, lms):
        up = self.upsample_hp(high_pass(ms))
        x = torch.cat([high_pass(pan), up], dim=1)
        return lms + self.tail(self.body(self.head(x)))


class DiCNN(ComplexityMixin, FusionModel):
    """DiCNN1 (He et al., IEEE JSTARS 2019): detail-injection CNN on ``cat[pan, lms]``, + lms."""

    def __init__(self, bands: int = 8, channels: int = 64):
        super().__init__()
        self.bands = bands
        self.body = nn.Sequential(
            _conv(bands + 1, channels), nn.ReLU(), _conv(channels, channels), nn.ReLU(), _conv(channels, bands)
        )

    def fuse(self, ms, pan, lms):
        return lms + self.body(torch.cat([pan, lms], dim=1))


class FusionNet(ComplexityMixin, FusionModel):
    """FusionNet (Deng et al., IEEE TGRS 2021): residual CNN on ``pan - lms`` (PAN replicated), + lms."""

    def __init__(self, bands: int = 8, blocks: int = 4, channels: int = 32):
        super().__init__()
        self.bands = bands
        self.head = nn.Sequential(_conv(bands, channels), nn.ReLU())
        self.body = nn.Sequential(*[ResBlock(channels) for _ in range(blocks)])
        self.tail = _conv(channels, bands)

    def fuse(self, ms, pan, lms):
        x = pan.expand(-1, self.bands, -1, -1) - lms
        return lms + self.tail(self.body(self.head(x)))


_NORM = {"normaliser": 2047.0}


@register("pnn", paper="G. Masi, D. Cozzolino, L. Verdoliva, G. Scarpa, Pansharpening by convolutional neural networks, Remote Sensing 2016", description="PNN, 3-layer CNN (104K params for 8 bands)", **_NORM)
def pnn(bands: int = 8, **options) -> PNN:
    return PNN(bands=bands, **options)


@register("pannet", paper="J. Yang, X. Fu, Y. Hu, Y. Huang, X. Ding, J. Paisley, PanNet: A deep network architecture for pan-sharpening, ICCV 2017", description="PanNet, high-pass ResNet (83K params for 8 bands)", **_NORM)
def pannet(bands: int = 8, **options) -> PanNet:
    return PanNet(bands=bands, **options)


@register("dicnn", paper="L. He, Y. Rao, J. Li, J. Chanussot, A. Plaza, J. Zhu, B. Li, Pansharpening via detail injection based convolutional neural networks, IEEE JSTARS 2019", description="DiCNN1, detail-injection CNN (47K params for 8 bands)", **_NORM)
def dicnn(bands: int = 8, **options) -> DiCNN:
    return DiCNN(bands=bands, **options)


@register("fusionnet", paper="L.-J. Deng, G. Vivone, C. Jin, J. Chanussot, Detail injection-based deep convolutional neural networks for pansharpening, IEEE TGRS 2021", description="FusionNet, residual CNN on pan - lms (79K params for 8 bands)", **_NORM)
def fusionnet(bands: int = 8, **options) -> FusionNet:
    return FusionNet(bands=bands, **options)
