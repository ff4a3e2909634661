"""Cost and context of a fusion network: MACs per output pixel and receptive field.

* :func:`macs_per_pixel` counts the convolution/matmul multiply-accumulates of one
  forward with :class:`torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2; bias adds,
  activations and element-wise ops are not counted, as in the papers' tables) and divides
  by the number of output pixels. Work that the counter cannot see (Ada3D's per-voxel
  adaptive convolution is a multiply + sum) is added by the model's optional
  ``extra_macs(ms, pan) -> float``: total extra MACs of one forward on those inputs.
* :func:`receptive_field` measures, empirically, the radius in PAN pixels of the input
  region that influences one output pixel: the gradient of the centre output pixel with
  respect to ``pan``, ``lms`` and ``ms`` is non-zero only inside it. This is the halo that
  exact tiling needs. Models with global pooling report their local receptive field and
  set ``global_pooling = True``.

:class:`ComplexityMixin` gives a :class:`~pansharpen.models.base.FusionModel` the
zero-argument ``macs_per_pixel()`` / ``receptive_field()`` methods that
:func:`pansharpen.models.create` copies into the model card, and ``fold()``.
"""
from __future__ import annotations

import contextlib
import copy
import math

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..errors import ModelError
from ..layers.fold import fold_modules

__all__ = ["macs_per_pixel", "receptive_field", "ComplexityMixin"]


@contextlib.contextmanager
def _one_thread():
    # the probes are small; on a busy machine 2+ threads spin and cost 10-50x more
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _inputs(model: nn.Module, size: "int | tuple[int, int]", dtype=torch.float32,
            generator: torch.Generator | None = None):
    """Random ``(ms, pan, lms)`` in [0, 1) for ``model`` with a PAN of ``size`` (side or (rows, cols))."""
    ratio = int(getattr(model, "ratio", 4))
    bands = int(getattr(model, "bands"))
    guide = int(getattr(model, "guide_bands", 1))
    rows, cols = (size, size) if isinstance(size, int) else size
    if rows % ratio or cols % ratio:
        raise ModelError(f"size must be a multiple of the model's ratio {ratio}; got {size}")
    ms = torch.rand(1, bands, rows // ratio, cols // ratio, generator=generator, dtype=dtype)
    pan = torch.rand(1, guide, rows, cols, generator=generator, dtype=dtype)
    lms = torch.rand(1, bands, rows, cols, generator=generator, dtype=dtype) if getattr(model, "needs_lms", True) else None
    return ms, pan, lms


@contextlib.contextmanager
def _architecture_form(model: nn.Module):
    """Put layers that can compute in several forms (SpanConv ``compute``) in the form the paper
    counts (their ``ARCHITECTURE_COMPUTE``) for the duration of the block."""
    switched = [(m, m.compute) for m in model.modules() if getattr(m, "ARCHITECTURE_COMPUTE", None)]
    for m, _ in switched:
        m.compute = m.ARCHITECTURE_COMPUTE
    try:
        yield
    finally:
        for m, before in switched:
            m.compute = before


def macs_per_pixel(model: nn.Module, size: int = 64) -> float:
    """Multiply-accumulates per output (PAN-grid) pixel of one forward at ``size x size``.

    Layers that can compute the same function in several forms (SpanConv's dense or
    factorised evaluation) are counted in the architecture's own form (their
    ``ARCHITECTURE_COMPUTE``), as the papers count them; folded models count their dense convolutions.

    Args:
        model: a fusion model (``bands``, ``ratio``, ``forward(ms, pan, lms=None)``).
        size: PAN side used for the count (a multiple of the ratio). Convolutions with
            'same' padding cost the same per pixel at any size.
    """
    param = next(model.parameters(), None)
    ms, pan, lms = _inputs(model, size, dtype=param.dtype if param is not None else torch.float32)
    counter = FlopCounterMode(display=False)
    with _one_thread(), torch.no_grad(), _architecture_form(model), counter:
        model(ms, pan, lms)
    macs = counter.get_total_flops() / 2.0
    extra = getattr(model, "extra_macs", None)
    if callable(extra):
        macs += float(extra(ms, pan))
    return macs / float(size * size)


def _radius_of(grad: torch.Tensor, centre: int, scale: int = 1) -> int:
    """Largest Chebyshev distance (PAN pixels) from ``centre`` of a non-zero entry of ``grad``."""
    nz = grad.abs().sum(dim=(0, 1)) > 0
    if not nz.any():
        return 0
    rows, cols = torch.nonzero(nz, as_tuple=True)
    # an entry at low-resolution index j covers PAN pixels [j*scale, (j+1)*scale - 1]
    lo_r, hi_r = rows * scale, rows * scale + scale - 1
    lo_c, hi_c = cols * scale, cols * scale + scale - 1
    dist = torch.stack([(lo_r - centre).abs(), (hi_r - centre).abs(), (lo_c - centre).abs(), (hi_c - centre).abs()])
    return int(dist.max())


def receptive_field(model: nn.Module, size: int = 64, trials: int = 3, max_size: int = 512) -> int:
    """Radius in PAN pixels of the input region that reaches one output pixel (empirical).

    The gradient of the centre output pixel (summed over bands) with respect to every input
    is taken in float64 on a copy of the model whose parameters are redrawn at random (a
    zero-initialised branch, e.g. LGPConv ``no_noise``, must not hide its context), for
    ``trials`` random inputs (a ReLU that is off for one input must not hide a path); the
    union of non-zero positions gives the radius. ``size`` doubles while the region touches
    the image border. Models with global pooling must override this with their local radius.
    """
    # a gradient probe: it must work when called from inference code (no_grad / inference_mode)
    with _one_thread(), torch.inference_mode(False), torch.enable_grad():
        return _receptive_field(model, size, trials, max_size)


def _receptive_field(model: nn.Module, size: int, trials: int, max_size: int) -> int:
    probe = copy.deepcopy(model).double().eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in probe.parameters():
            fan_in = max(1, p[0].numel()) if p.ndim > 1 else 1
            p.copy_(torch.randn(p.shape, generator=gen, dtype=p.dtype) / math.sqrt(fan_in))
    ratio = int(getattr(model, "ratio", 4))
    while True:
        radius = 0
        for _ in range(trials):
            ms, pan, lms = _inputs(probe, size, dtype=torch.float64, generator=gen)
            for t in (ms, pan, lms):
                if t is not None:
                    t.requires_grad_(True)
            out = probe(ms, pan, lms)
            c = size // 2
            out[0, :, c, c].sum().backward()
            radius = max(radius, _radius_of(pan.grad, c))
            if lms is not None:
                radius = max(radius, _radius_of(lms.grad, c))
            if ms.grad is not None:
                radius = max(radius, _radius_of(ms.grad, c, scale=ratio))
        if radius < size // 2 - ratio or size >= max_size:
            return radius
        size *= 2


# architecture (class + module repr, which lists every layer's configuration) -> value
_CACHE: dict[tuple[str, str, str], float] = {}


class ComplexityMixin:
    """``macs_per_pixel()``, ``receptive_field()`` and ``fold()`` for a FusionModel subclass.

    Both figures depend only on the architecture, so they are measured once per
    architecture and process (the registry asks for them at every ``create``).
    """

    global_pooling: bool = False
    folded: bool = False

    def _cached(self, what: str, fn) -> float:
        key = (what, type(self).__qualname__, repr(self))
        if key not in _CACHE:
            _CACHE[key] = fn(self)
        return _CACHE[key]

    def macs_per_pixel(self) -> float:
        return self._cached("macs", macs_per_pixel)

    def receptive_field(self) -> int:
        return int(self._cached("rf", receptive_field))

    def fold(self):
        """A copy of the model for inference in which SpanConv/LGPConv/BSConv layers are
        dense convolutions (exact, see :mod:`pansharpen.layers.fold`). Save the unfolded model.

        The copy keeps its conv weights channels-last: oneDNN's dense convs are markedly
        faster in that layout on CPU (outputs then have channels-last strides; values are
        unchanged).
        """
        folded = fold_modules(self)
        folded.folded = True
        return folded.to(memory_format=torch.channels_last).eval()
