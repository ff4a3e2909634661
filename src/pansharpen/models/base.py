"""The one input contract shared by every fusion network.

``forward(ms, pan, lms=None)``:

* ``ms``  -- low-resolution MS/HS, ``(N, C, h, w)``, digital numbers / card.normaliser;
* ``pan`` -- high-resolution guide, ``(N, G, h*r, w*r)`` (G = 1 for PAN, 3 for RGB);
* ``lms`` -- optional ``ms`` already upsampled to the guide size, ``(N, C, H, W)``; when
  absent it is computed with the protocol's interp23tap (PanCollection sets carry it,
  because interpolating a small patch on its own differs at its border).

Returns ``(N, C, H, W)`` on the same scale as ``ms``.
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ShapeError, ValueRangeError
from ..protocol.interp import interp23tap


class FusionModel(nn.Module):
    """Base class: validates inputs and provides ``lms`` when it is not given.

    Subclasses implement :meth:`fuse` ``(ms, pan, lms) -> fused`` and set
    ``bands``, ``guide_bands`` and ``ratio``.
    """

    bands: int
    guide_bands: int = 1
    ratio: int = 4
    #: set by the registry when the model is created
    card = None
    #: check inputs for NaN/inf in every forward (cheap compared with the network)
    check_inputs: bool = True

    def forward(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor | None = None) -> torch.Tensor:
        self.validate(ms, pan, lms)
        if lms is None and self.needs_lms:
            lms = self.upsample(ms)
        return self.fuse(ms, pan, lms)

    #: whether :meth:`fuse` uses ``lms`` (Ada3D upsamples internally and does not)
    needs_lms: bool = True

    def upsample(self, ms: torch.Tensor) -> torch.Tensor:
        """MS upsampled to the PAN grid with interp23tap (the PanCollection ``lms``)."""
        return interp23tap(ms, self.ratio)

    def fuse(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def validate(self, ms: torch.Tensor, pan: torch.Tensor, lms: torch.Tensor | None) -> None:
        name = type(self).__name__
        if ms.ndim != 4 or pan.ndim != 4:
            raise ShapeError(
                f"{name}: ms and pan must be 4-D (N, C, h, w) and (N, {self.guide_bands}, H, W); "
                f"got ms {tuple(ms.shape)}, pan {tuple(pan.shape)}"
            )
        if ms.shape[1] != self.bands:
            raise ShapeError(
                f"{name} was built for {self.bands} bands but ms has {ms.shape[1]}; "
                f"create the model with bands={ms.shape[1]} or select the bands it was trained on"
            )
        if pan.shape[1] != self.guide_bands:
            raise ShapeError(f"{name}: the guide image must have {self.guide_bands} channel(s); got {pan.shape[1]}")
        if ms.shape[0] != pan.shape[0]:
            raise ShapeError(f"{name}: batch sizes differ (ms {ms.shape[0]}, pan {pan.shape[0]})")
        h, w = ms.shape[-2:]
        if tuple(pan.shape[-2:]) != (h * self.ratio, w * self.ratio):
            raise ShapeError(
                f"{name}: pan is {tuple(pan.shape[-2:])} but ms is {(h, w)}; with ratio {self.ratio} pan must be "
                f"{(h * self.ratio, w * self.ratio)}"
            )
        if lms is not None and tuple(lms.shape) != (ms.shape[0], ms.shape[1], *pan.shape[-2:]):
            raise ShapeError(
                f"{name}: lms must be {(ms.shape[0], ms.shape[1], *pan.shape[-2:])}; got {tuple(lms.shape)}"
            )
        if self.check_inputs:
            for label, t in (("ms", ms), ("pan", pan), ("lms", lms)):
                if t is not None and not torch.isfinite(t).all():
                    raise ValueRangeError(f"{name}: {label} contains NaN or inf; fill nodata before fusing")
