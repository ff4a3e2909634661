"""DetailNet: MTF-GLP detail injection with content-adaptive gains, for per-product adaptation.

A fresh network that starts as a classical method instead of as noise. Its output is the
MTF-GLP high-pass-modulation (HPM) fusion of Aiazzi et al. (Photogramm. Eng. Remote Sens. 72(5),
2006; Vivone et al., IEEE TGRS 53(5), 2015, eq. 13) whose injection gains are corrected, pixel by
pixel, by a small CNN whose last layer starts at zero (``C`` bands, ratio ``R``)::

    P_L,k = interp23tap(decimate(MTF_k(P), R), R)       PAN low-pass at band k's MTF (MTF-GLP)
    D_k   = P - P_L,k                                    PAN detail for band k
    a, b, e = split(CNN(cat[lms, P, s D]))               3C maps, all zero at initialisation
    F_k   = lms_k + (alpha_k + a_k) (lms_k - H_k) / (P_L,k - H_P) D_k    HPM injection (alpha_k = 1 at start)
                  + (beta_k + b_k) D_k                   additive injection (beta_k = 0 at start)
                  + c_k,0 P + sum_j c_k,j lms_j + c_k    component-substitution injection (all 0 at start)
                  + e_k                                  spectral correction

With ``alpha = 1``, ``beta = 0`` and a zero last layer, ``F_k = lms_k P / P_L,k``: MTF-GLP-HPM
without the PAN equalisation (HPM's ratio is invariant to the PAN's gain, not to its offset; the
learned ``beta`` and ``b`` absorb that). ``H_k`` and ``H_P`` are the MS bands' and the PAN's haze
(path radiance), learnable and zero at initialisation; :meth:`DetailNet.start_haze` sets them to
the product's dark-object estimate (``training.adapt_full.haze_estimate``), which makes the start
MTF-GLP-HPM-H (Lolli et al., IEEE GRSL 14(12), 2017, Eq. 6:
``F_k = H_k + (lms_k - H_k)(P - H_P)/(P_L,k - H_P)``). :meth:`DetailNet.start_additive` sets ``alpha = 0`` and
``beta = g`` with MTF-GLP-FS's gains regressed on the product (:meth:`DetailNet.regression_gains`):
the start is then MTF-GLP-FS, the better start where the PAN is a poor proxy of some bands
(Landsat's blue and red under its green-to-NIR PAN; docs/adaptation.md). :meth:`DetailNet.start_blend`
mixes that start with a component-substitution fusion, the band-dependent spatial detail
``F_k = lms_k + c_k,0 P + sum_j c_k,j lms_j + c_k`` of BDSD (Garzelli, Nencini, Capobianco, IEEE TGRS
46(1), 2008; one global set of coefficients, as BDSD-PC, Vivone, IEEE TGRS 57(9), 2019), whose
coefficients the adaptation regresses on the Wald-degraded training patches. With ``consistent=True``
the output is last projected onto the images that give the MS back through the bands' MTF and
decimation (:func:`pansharpen.protocol.consistency.project_consistent`, Wald's consistency
property; its reach is added to the receptive field). The CNN (``layers`` 3x3 convolutions of ``width``
channels, ReLU) sees the expanded MS, the PAN and the detail scaled by ``s`` = ``DETAIL_SCALE``.

It exists for ``pansharpen adapt`` (docs/adaptation.md): trained from scratch on one product in
minutes, a network that must first learn to copy the PAN's detail (LightNet from an EXP-like
start) spends its whole budget there, while this one starts at a good classical fusion and
spends it on the corrections. ``mtf_gains`` are the sensor's MS Nyquist gains (the adaptation
passes the product's sensor; the card records them). Inputs on the scale DN / card.normaliser;
``R`` a power of two (interp23tap). Output ``(N, C, H, W)``, not clipped.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..errors import ModelError
from ..protocol.interp import interp23tap
from ..metrics.reprojection import reproject
from ..protocol.consistency import consistency_reach, project_consistent
from ..protocol.mtf import KERNEL_SIZE
from .base import FusionModel
from .complexity import ComplexityMixin
from .registry import register

__all__ = ["CS_SCALE", "DETAIL_SCALE", "DetailNet", "detail_net"]

#: scale of the detail maps fed to the CNN (details are a few percent of the signal)
DETAIL_SCALE = 8.0
#: the CS term's inputs are scaled by this (its weights stored 1/CS_SCALE larger): the term acts on
#: signal levels, not on details, and an optimiser step of the size that suits the gains (Adam's
#: is about the learning rate, whatever the gradient) would move the output by tens of DN
CS_SCALE = 0.01
#: the low-pass PAN is clamped to at least this (DN / normaliser) in the HPM ratio
LOWPASS_FLOOR = 1e-3


class DetailNet(ComplexityMixin, FusionModel):
    """MTF-GLP-HPM with CNN-corrected injection gains (module docstring).

    Args:
        bands: MS bands ``C``.
        ratio: PAN/MS ratio, a power of two.
        mtf_gains: the MS bands' MTF gains at Nyquist (``C`` values in (0, 1); default the
            toolbox's generic 0.3).
        width, layers: the CNN's channels and number of 3x3 convolutions (>= 2).
        consistent: end with the spectral-consistency projection
            (:func:`pansharpen.protocol.consistency.project_consistent`): the output, filtered with
            the bands' MTF and decimated, gives the MS back.
    """

    def __init__(self, bands: int = 4, ratio: int = 4, mtf_gains: Sequence[float] | None = None,
                 width: int = 32, layers: int = 3, consistent: bool = False):
        super().__init__()
        if ratio < 2 or ratio & (ratio - 1):
            raise ModelError(f"detail-net works at power-of-two ratios (interp23tap); got {ratio}")
        gains = [0.3] * bands if mtf_gains is None else [float(g) for g in mtf_gains]
        if len(gains) != bands or not all(0.0 < g < 1.0 for g in gains):
            raise ModelError(f"detail-net needs {bands} MTF gains in (0, 1), one per band; got {gains}")
        if layers < 2 or width < 1:
            raise ModelError(f"detail-net needs layers >= 2 and width >= 1; got layers={layers}, width={width}")
        self.bands, self.ratio, self.mtf_gains = bands, int(ratio), tuple(gains)
        self.consistent = bool(consistent)
        self.alpha = nn.Parameter(torch.ones(bands))
        self.beta = nn.Parameter(torch.zeros(bands))
        self.haze = nn.Parameter(torch.zeros(bands))
        self.pan_haze = nn.Parameter(torch.zeros(1))
        self.cs = nn.Conv2d(bands + 1, bands, 1)  # the CS injection on cat[P, lms]; zero: off
        nn.init.zeros_(self.cs.weight)
        nn.init.zeros_(self.cs.bias)
        convs: list[nn.Module] = []
        cin = 2 * bands + 1
        for _ in range(layers - 1):
            convs += [nn.Conv2d(cin, width, 3, padding=1, padding_mode="replicate"), nn.ReLU()]
            cin = width
        self.body = nn.Sequential(*convs)
        self.tail = nn.Conv2d(cin, 3 * bands, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(self.tail.weight)
        nn.init.zeros_(self.tail.bias)

    def receptive_field(self) -> int:
        """Reach in PAN pixels (analytic; the FFT filter's round-off defeats the gradient probe): the MTF
        kernel's radius, one decimation step, interp23tap's reach (11 taps per x2 stage) and the CNN."""
        r = self.ratio
        reach = KERNEL_SIZE // 2 + r + 11 * (r - 1) + r + len(self.body) // 2 + 1
        return reach + (consistency_reach(self.mtf_gains, r) if self.consistent else 0)

    def pan_lowpass(self, pan: torch.Tensor) -> torch.Tensor:
        """``P_L,k`` for every band: ``(N, 1, H, W) -> (N, C, H, W)`` (H, W multiples of the ratio)."""
        # the PAN seen at the MS scale through each band's MTF, as the MS was made, then expanded as the MS is
        return interp23tap(reproject(pan.expand(-1, self.bands, -1, -1), self.mtf_gains, self.ratio), self.ratio)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # weights written before the haze and CS terms existed are the network without them
        for name, value in (("haze", self.haze), ("pan_haze", self.pan_haze), ("cs.weight", self.cs.weight),
                            ("cs.bias", self.cs.bias)):
            state_dict.setdefault(prefix + name, torch.zeros_like(value))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def start_haze(self, haze: torch.Tensor, pan_haze: float) -> None:
        """Start as MTF-GLP-HPM-H: HPM injection (``alpha = 1``, ``beta = 0``) with hazes ``H (C,)``, ``H_P``."""
        if haze.shape != self.haze.shape or not (torch.isfinite(haze).all() and math.isfinite(pan_haze)):
            raise ModelError(f"detail-net needs {self.bands} finite band hazes and a finite PAN haze")
        self.alpha.fill_(1.0)
        self.beta.zero_()
        self.haze.copy_(haze)
        self.pan_haze.fill_(pan_haze)

    @torch.no_grad()
    def regression_gains(self, pan: torch.Tensor, lms: torch.Tensor) -> torch.Tensor:
        """MTF-GLP-FS's full-scale injection gains over a batch, ``g_k = cov(lms_k, P) / cov(P_L,k, P)``
        (Vivone, Restaino, Chanussot, IEEE TIP 27(7), 2018), ``(C,)``.

        ``pan (N, 1, H, W)`` and ``lms (N, C, H, W)`` on the network scale; the covariances pool every
        pixel of the batch (a scene-wide statistic when the batch samples the scene). A band whose
        low-pass PAN does not vary with the PAN gets gain 0."""
        low = self.pan_lowpass(pan)
        p = pan - pan.mean()

        def cov(a: torch.Tensor) -> torch.Tensor:
            return ((a - a.mean(dim=(0, 2, 3), keepdim=True)) * p).mean(dim=(0, 2, 3))

        num, den = cov(lms.to(pan.dtype)), cov(low)
        return torch.where(den.abs() > 0, num / torch.where(den.abs() > 0, den, torch.ones_like(den)),
                           torch.zeros_like(den))

    @torch.no_grad()
    def start_additive(self, gains: torch.Tensor) -> None:
        """Start as MTF-GLP-FS: HPM injection off (``alpha = 0``, no haze), additive gains ``beta = gains`` ``(C,)``."""
        if gains.shape != self.beta.shape or not torch.isfinite(gains).all():
            raise ModelError(f"detail-net needs {self.bands} finite gains; got {tuple(gains.shape)}")
        self.alpha.zero_()
        self.haze.zero_()
        self.pan_haze.zero_()
        self.beta.copy_(gains)

    @torch.no_grad()
    def start_blend(self, weight: float, coefficients: torch.Tensor, bias: torch.Tensor) -> None:
        """Mix the current (MRA) start with a component-substitution fusion:
        ``F = (1 - w) F_MRA + w F_CS`` with ``F_CS,k = lms_k + coefficients[k] . [P, lms] + bias[k]``.

        ``coefficients (C, C + 1)`` (PAN first), ``bias (C,)``, e.g. from
        :func:`pansharpen.training.adapt_full.cs_regression`; ``weight`` in [0, 1]."""
        c = self.bands
        if not 0.0 <= weight <= 1.0:
            raise ModelError(f"the blend weight must be in [0, 1]; got {weight}")
        if coefficients.shape != (c, c + 1) or bias.shape != (c,) or not (
                torch.isfinite(coefficients).all() and torch.isfinite(bias).all()):
            raise ModelError(f"detail-net needs finite CS coefficients ({c}, {c + 1}) and bias ({c},)")
        self.alpha.mul_(1.0 - weight)
        self.beta.mul_(1.0 - weight)
        self.cs.weight.copy_(weight / CS_SCALE * coefficients.view(c, c + 1, 1, 1))
        self.cs.bias.copy_(weight * bias)

    def fuse(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor) -> torch.Tensor:
        low = self.pan_lowpass(pan)
        detail = pan - low
        haze, pan_haze = self.haze.view(1, -1, 1, 1), self.pan_haze.view(1, 1, 1, 1)
        hpm = (lms - haze) / (low - pan_haze).clamp_min(LOWPASS_FLOOR) * detail
        a, b, e = self.tail(self.body(torch.cat([lms, pan, DETAIL_SCALE * detail], dim=1))).chunk(3, dim=1)
        alpha, beta = self.alpha.view(1, -1, 1, 1), self.beta.view(1, -1, 1, 1)
        out = lms + (alpha + a) * hpm + (beta + b) * detail + self.cs(CS_SCALE * torch.cat([pan, lms], dim=1)) + e
        return project_consistent(out, ms, self.mtf_gains, self.ratio) if self.consistent else out


@register(
    "detail-net",
    paper=("MTF-GLP-HPM (Aiazzi et al., PE&RS 2006) with CNN-corrected injection gains; this project's network "
           "for full-resolution adaptation (docs/adaptation.md)"),
    description="MTF-GLP-HPM + CNN gain corrections; starts at the classical fusion (for `pansharpen adapt`)",
    normaliser=2047.0,
    product_options=("ratio", "mtf_gains"),
)
def detail_net(bands: int = 4, **options) -> DetailNet:
    return DetailNet(bands=bands, **options)
