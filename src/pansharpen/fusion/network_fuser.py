"""The network fuser: a fusion network run on haloed blocks of a scene (the fuser protocol of
:mod:`pansharpen.fusion.fusers`).

Kept apart from the classical fuser so that the classical path imports no torch
(:mod:`pansharpen._arrays`); :func:`pansharpen.fusion.fuse.make_fuser` imports this module only
when a network is asked for.
"""
from __future__ import annotations

import contextlib
import functools
import math
import warnings
from typing import Iterator

import numpy as np
import torch

from ..errors import ModelError
from ..models.inference import (
    INFERENCE_FORMS,
    eval_copy,
    inference_module,
    preferred_form,
)
from ..models.registry import complete_card
from ..protocol.interp import interp23tap
from ..protocol.scaling import from_network, network_normaliser, to_network
from .fusers import interp23_margin_lr


@contextlib.contextmanager
def fp32_math(device) -> Iterator[None]:
    """Full fp32 convolutions and matmuls on CUDA for the duration (TF32 off), the caller's
    settings restored after. With PyTorch's default TF32 cuDNN convolutions a CUDA fusion differed
    from the CPU by 6.7e-4 to 7.5e-4 of the range on a 2048 crop; with TF32 off by about 7e-7
    (H200, docs/fusion.md). No-op on other devices."""
    if torch.device(device).type != "cuda":
        yield
        return
    matmul = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, benchmark=torch.backends.cudnn.benchmark,
                                        deterministic=torch.backends.cudnn.deterministic, allow_tf32=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = matmul

class NetworkFuser:
    """Runs a fusion network (``forward(ms, pan, lms=None)``) on normalised blocks.

    The network sees ``DN / card.normaliser`` and its output is scaled back
    (:mod:`pansharpen.protocol.scaling`). The MS is
    upsampled (interp23tap) inside the block, so the halo covers the interpolator's
    reach plus the network's receptive field.

    ``form``: the inference form (:mod:`pansharpen.models.inference`): ``"eager"``, ``"fold"``
    (dense convolutions, exact border bias) or ``"trace"`` (TorchScript in oneDNN's blocked
    layout); None takes the model's ``cpu_inference``. All give the same output to float32
    rounding. The form is built on the first call in each process, (the
    CLI also calls :func:`pansharpen.runtime.retain_freed_memory` first; a library caller may).

    ``subtile`` (PAN pixels, default 512): inside a block the MS is upsampled once, then the
    network runs on sub-tiles of that size with a margin of its receptive field only (rounded up
    to a multiple of R), and their centres are pasted together. The result is the same as one
    call on the whole block (each output pixel sees the same inputs); with ``margin`` only the
    block centre that the scene keeps is computed. For the default 512 tile this is one call of
    ``512 + 2 * 28`` pixels per tile instead of ``512 + 2 * 68``; 256 was up to 22 % slower (LightNet:
    the same) on a 2048 crop (docs/fusion.md). None or 0 runs each block in one call. Networks with image-wide
    pooling run whole.

    ``stats_tile`` (MS pixels, default 64; None: whole scene): the tile of :meth:`prepare`'s
    image-wide statistics for global-pooling models.
    """

    def __init__(self, model: torch.nn.Module, *, form: str | None = None, device: str = "cpu",
                 threads: int | None = None, subtile: int | None = 512, stats_tile: int | None = 64):
        if getattr(model, "card", None) is None:
            raise ModelError("the model has no card; create it with pansharpen.models.create or load it")

        card = self.card = model.card
        self.bands = card.bands
        self.ratio = card.ratio
        self.normaliser = network_normaliser(card=card)
        self.device = device
        self.threads = threads
        if card.global_pooling and not hasattr(model, "global_stats"):
            warnings.warn(
                f"model {card.name} uses image-wide pooling; tiles are pooled separately", stacklevel=2
            )
        if subtile and (subtile < 0 or subtile % self.ratio):
            raise ModelError(f"subtile must be a positive multiple of the ratio {self.ratio}; got {subtile}")
        if form is not None and form not in INFERENCE_FORMS:
            raise ModelError(f"form must be one of {', '.join(INFERENCE_FORMS)}; got {form!r}")
        self.subtile = subtile if subtile and not card.global_pooling else None
        if stats_tile is not None and (isinstance(stats_tile, bool) or not isinstance(stats_tile, int) or stats_tile < 1):
            raise ModelError(f"stats_tile must be a positive number of MS pixels or None; got {stats_tile!r}")
        self.stats_tile = stats_tile
        self.model = eval_copy(model, device)
        self.card = self.model.card  # the copy's card: completing it never changes the caller's
        self.form = form or preferred_form(model, device)
        self._engine = None  # built on the first call in each process (TorchScript does not pickle)
        self.stats = None

    @functools.cached_property
    def _margins(self) -> tuple[int, int]:
        """``(halo, net_halo)`` from the receptive field, measured on first use (a card that lacks it
        is completed then: :func:`~pansharpen.models.registry.complete_card`), so whole-image use
        (:meth:`fuse_image`) never pays for the measurement."""
        rf = int(complete_card(self.model).receptive_field or 0)
        if rf <= 0:
            rf = 32
            warnings.warn(f"model {self.card.name} has no receptive field in its card; using a 32 px halo", stacklevel=3)
        net = self.ratio * math.ceil(rf / self.ratio)
        return self.ratio * (interp23_margin_lr(self.ratio) + 1) + net, net

    @property
    def consistent(self) -> bool:
        """Whether the network ends with the consistency projection (it then needs an aligned grid)."""
        return bool(getattr(self.model, "consistent", False))

    @property
    def halo(self) -> int:
        """PAN pixels of context a tile needs on each side: interp23tap's reach plus the network's
        receptive field (rounded up to whole MS pixels), plus one MS pixel."""
        return self._margins[0]

    @property
    def net_halo(self) -> int:
        """The network's receptive field rounded up to a multiple of R (the sub-tile margin)."""
        return self._margins[1]

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_engine"] = None
        return state

    @property
    def engine(self):
        """The network in its inference form (:mod:`pansharpen.models.inference`), built once per process."""
        if self._engine is None:
            self._engine, self.form = inference_module(self.model, self.form, self.device)
        return self._engine

    @property
    def name(self) -> str:
        return self.card.name

    def prepare(self, ms_scene: np.ndarray, pan_scene: np.ndarray) -> None:
        """Scene-wide statistics for global-pooling models (Ada3D) from a (decimated) scene.

        A scene wider or taller than ``stats_tile`` MS pixels is pooled by tiles of that size (the
        same values, :meth:`Ada3DNet.global_stats`), so memory stays bounded by a tile: one
        whole-image Ada3D-pan forward of a 256 x 256 MS crop took 5.3 GB. The tiles cost about
        (layers + 1) / 2 forwards of the scene instead of one.
        """
        if self.card.global_pooling and hasattr(self.model, "global_stats"):
            if self.threads:
                torch.set_num_threads(self.threads)
            with torch.inference_mode(), fp32_math(self.device):
                ms = to_network(ms_scene[None], self.normaliser).to(self.device)
                pan = to_network(pan_scene[None], self.normaliser).to(self.device)
                tile = self.stats_tile if self.stats_tile and max(ms.shape[-2:]) > self.stats_tile else None
                self.stats = self.model.global_stats(ms, pan, tile=tile)

    accepts_margin = True  # see the module docstring
    accepts_phase = True  # takes phase= (the MS grid's sub-pixel offset), see __call__

    def __call__(self, ms_block: np.ndarray, pan_block: np.ndarray, origin=(0, 0), margin: int = 0,
                 phase: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
        """Fused block ``(C, R*h, R*w)`` in DN; with ``margin`` (PAN px, a multiple of R) only the
        centre ``[margin:-margin]`` is computed when sub-tiling (the rest is zero). ``phase``: the
        MS grid's sub-pixel offset on the PAN grid (:func:`~pansharpen.protocol.interp.interp23tap`);
        the network's upsampled input ``lms`` is interpolated where the MS pixels really lie."""
        if self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode(), fp32_math(self.device):
            ms = to_network(ms_block[None], self.normaliser).to(self.device)
            pan = to_network(pan_block[None], self.normaliser).to(self.device)
            kwargs = {"stats": self.stats} if self.stats is not None else {}
            out = self._run(ms, pan, kwargs, margin, phase)
        return from_network(out[0], self.normaliser)

    def fuse_image(self, ms: np.ndarray, pan: np.ndarray, lms: np.ndarray | None = None) -> np.ndarray:
        """One whole image in one network call (no tiles, no halo): ``ms (C, h, w)``, ``pan (1, H, W)``
        and optionally ``lms (C, H, W)`` (the MS already on the PAN grid, e.g. a PanCollection test
        set's; else the network upsamples) in DN -> ``(C, H, W)`` float64 DN. Image-wide statistics
        of pooling models come from this image. The benchmark scores networks through this."""
        if self.threads:
            torch.set_num_threads(self.threads)
        with torch.inference_mode(), fp32_math(self.device):
            inputs = [None if a is None else to_network(a[None], self.normaliser).to(self.device) for a in (ms, pan, lms)]
            out = self.engine(*inputs)
        return from_network(out[0], self.normaliser)

    def _upsampled(self, ms: torch.Tensor, phase) -> torch.Tensor | None:
        """The network's ``lms``: its own upsampling, or interp23tap at the grid ``phase``."""
        if not getattr(self.model, "needs_lms", True):
            if any(phase) and not getattr(self, "_phase_warned", False):
                self._phase_warned = True
                warnings.warn(f"{self.card.name} upsamples the MS itself and cannot take the grid's sub-pixel phase "
                              f"{tuple(phase)}; its result is offset by that much", stacklevel=3)
            return None
        return interp23tap(ms, self.ratio, phase=phase) if any(phase) else self.model.upsample(ms)

    def _run(self, ms: torch.Tensor, pan: torch.Tensor, kwargs: dict, margin: int = 0,
             phase: tuple[float, float] = (0.0, 0.0)) -> torch.Tensor:
        """The network on a block, in sub-tiles when the block is larger than one (see the class doc)."""
        model, engine, t, h, r = self.model, self.engine, self.subtile, self.net_halo, self.ratio
        rows, cols = pan.shape[-2:]
        if not t or (rows <= t + 2 * h and cols <= t + 2 * h) or not hasattr(model, "upsample"):
            return engine(ms, pan, self._upsampled(ms, phase) if any(phase) else None, **kwargs)
        if margin % r or 2 * margin >= min(rows, cols):
            margin = 0
        lms = self._upsampled(ms, phase)
        out = None
        for r0 in range(margin, rows - margin, t):
            for c0 in range(margin, cols - margin, t):
                r1, c1 = min(r0 + t, rows - margin), min(c0 + t, cols - margin)
                a0, a1, b0, b1 = max(r0 - h, 0), min(r1 + h, rows), max(c0 - h, 0), min(c1 + h, cols)
                sub = engine(ms[..., a0 // r:a1 // r, b0 // r:b1 // r], pan[..., a0:a1, b0:b1],
                            None if lms is None else lms[..., a0:a1, b0:b1], **kwargs)
                if out is None:
                    out = sub.new_zeros(sub.shape[0], sub.shape[1], rows, cols)
                out[..., r0:r1, c0:c1] = sub[..., r0 - a0:r1 - a0, c0 - b0:c1 - b0]
        return out
