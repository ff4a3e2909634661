"""MATLAB-compatible ``imresize`` on the last two axes of channels-first images.

Each axis is resized with MATLAB's ``contributions`` rule (metrics-reference section 3.3):
output pixel ``x`` (1-based) maps to input coordinate ``u = x / s + (1 - 1/s) / 2``; the kernel
(Keys cubic with ``a = -0.5``, triangle, or box) is stretched by ``1/s`` when shrinking with
antialiasing (its width becomes ``width / s``); the input pixels ``floor(u - width/2) + 0 ..
ceil(width) + 1`` contribute, indices outside the image are mirrored including the edge pixel
(``[1..n, n..1]`` repeated), and each output pixel's weights are normalised to sum 1. The output
length is ``ceil(n * s)``. As in MATLAB, ``'nearest'`` is never antialiased: scale 1/4 picks the
0-based pixels 2, 6, 10, ...
"""
from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Callable

import numpy as np

from .._arrays import is_torch, torch_module
from ..errors import ShapeError, ValueRangeError
from .mtf import _work_array

if TYPE_CHECKING:  # for the annotation only; loaded where used (start-up)
    import scipy.sparse

__all__ = ["LAZY_IMPORTS", "contributions", "cubic_kernel", "imresize", "imresize_input_rows", "imresize_rows"]

#: what the numpy path loads on its first resize (the sparse weight matrices), for callers that
#: preload it (:func:`pansharpen.runtime.preload`)
LAZY_IMPORTS = ("scipy.sparse",)


def cubic_kernel(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with ``a = -0.5`` (MATLAB ``cubic``), support [-2, 2]."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return inner + outer


def _triangle_kernel(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    return (1.0 - ax) * (ax <= 1)


def _box_kernel(x: np.ndarray) -> np.ndarray:
    return ((x >= -0.5) & (x < 0.5)).astype(np.float64)


#: method -> (kernel, kernel width)
_METHODS: dict[str, tuple[Callable[[np.ndarray], np.ndarray], float]] = {
    "bicubic": (cubic_kernel, 4.0),
    "bilinear": (_triangle_kernel, 2.0),
    "nearest": (_box_kernel, 1.0),
}
_ALIASES = {"cubic": "bicubic", "linear": "bilinear", "triangle": "bilinear", "box": "nearest"}


def _method_key(method: str) -> str:
    key = _ALIASES.get(str(method).lower(), str(method).lower())
    if key not in _METHODS:
        raise ValueRangeError(f"unknown resize method {method!r}; use 'bicubic', 'bilinear' or 'nearest'")
    return key


@functools.lru_cache(maxsize=128)
def contributions(in_length: int, scale: float, method: str = "bicubic", antialias: bool = True):
    """MATLAB's ``contributions``: which input pixels feed each output pixel, and how much.

    Args:
        in_length: input length along the axis.
        scale: output/input size ratio (< 1 shrinks).
        method: ``"bicubic"``, ``"bilinear"`` or ``"nearest"``.
        antialias: stretch the kernel by ``1/scale`` when shrinking (ignored for ``"nearest"``).

    Returns:
        ``(weights, indices)``, both ``(out_length, P)``: 0-based input indices (already mirrored)
        and normalised weights; columns that are zero for every output pixel are dropped, as
        MATLAB does. Read-only, cached.
    """
    kernel, width = _METHODS[_method_key(method)]
    out_length = math.ceil(in_length * scale)
    if scale < 1 and antialias and kernel is not _box_kernel:
        base = kernel

        def kernel(x):  # noqa: F811 - MATLAB's h(x) = scale * kernel(scale * x)
            return scale * base(scale * x)

        width = width / scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    indices = left[:, None] + np.arange(taps)[None, :]  # 1-based, may fall outside 1..n
    weights = kernel(u[:, None] - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length)[::-1]])  # 0-based [1..n, n..1]
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    keep = np.any(weights != 0, axis=0)
    weights, indices = np.ascontiguousarray(weights[:, keep]), np.ascontiguousarray(indices[:, keep])
    weights.setflags(write=False)
    indices.setflags(write=False)
    return weights, indices


@functools.lru_cache(maxsize=128)
def _sparse_weights(in_length: int, scale: float, method: str, antialias: bool) -> scipy.sparse.csr_matrix:
    """The contributions as an ``(out_length, in_length)`` sparse matrix (mirrored taps summed)."""
    import scipy.sparse  # lazy: start-up (docs/performance.md)
    weights, indices = contributions(in_length, scale, method, antialias)
    n_out, taps = weights.shape
    rows = np.arange(0, n_out * taps + 1, taps)
    matrix = scipy.sparse.csr_matrix((weights.ravel().copy(), indices.ravel().copy(), rows), shape=(n_out, in_length))
    matrix.sum_duplicates()
    return matrix


def _resize_axis(x, axis: int, scale: float, method: str, antialias: bool):
    """Apply the contributions of one axis: ``out[o] = sum_p w[o, p] * x[idx[o, p]]``."""
    if is_torch(x):  # autograd / device path: gather one tap at a time
        torch = torch_module()
        weights, indices = contributions(x.shape[axis], scale, method, antialias)
        shape = [1] * x.ndim
        shape[axis] = weights.shape[0]
        out = None
        for p in range(weights.shape[1]):
            idx = torch.from_numpy(indices[:, p].copy()).to(x.device)
            w = torch.from_numpy(weights[:, p].copy()).to(x).reshape(shape)
            term = x.index_select(axis, idx) * w
            out = term if out is None else out + term
        return out
    matrix = _sparse_weights(x.shape[axis], scale, method, antialias)
    moved = np.moveaxis(x, axis, 0)
    out = matrix @ moved.reshape(moved.shape[0], -1)
    return np.moveaxis(out.reshape((matrix.shape[0],) + moved.shape[1:]), 0, axis)


def imresize(image, scale: float, method: str = "bicubic", antialias: bool = True):
    """Resize the last two axes like MATLAB ``imresize(I, scale, method)``.

    Args:
        image: ``(H, W)``, ``(C, H, W)`` or ``(N, C, H, W)``, numpy or torch, finite.
        scale: positive factor, the same for both axes (``1/4`` for the Wald PAN degradation).
        method: ``"bicubic"`` (MATLAB default, Keys ``a = -0.5``), ``"bilinear"`` or ``"nearest"``.
        antialias: MATLAB's ``'Antialiasing'`` (default true) for bicubic/bilinear shrinking;
            nearest is never antialiased (MATLAB's default for it).

    Returns:
        ``(..., ceil(H*scale), ceil(W*scale))``, same kind and floating dtype as ``image``
        (integers give float64, unrounded). Rows are resized first, then columns.
    """
    key = _method_key(method)
    try:
        s = float(scale)
    except (TypeError, ValueError):
        raise ValueRangeError(f"scale must be one positive number; got {scale!r}") from None
    if not math.isfinite(s) or s <= 0:
        raise ValueRangeError(f"scale must be a positive finite number; got {scale!r}")
    x, finish = _work_array(image, "image")
    h, w = x.shape[-2:]
    if math.ceil(h * s) < 1 or math.ceil(w * s) < 1:
        raise ShapeError(f"scale {scale} leaves no pixels of a {h} x {w} image")
    if is_torch(x):
        x = _resize_axis(x, 2, s, key, bool(antialias))
        return finish(_resize_axis(x, 3, s, key, bool(antialias)))
    # numpy: one image at a time keeps the working set in cache (faster than the whole batch)
    n, c = x.shape[:2]
    out = np.empty((n, c, math.ceil(h * s), math.ceil(w * s)), dtype=x.dtype)
    for i in range(n):
        out[i] = _resize_axis(_resize_axis(x[i], 1, s, key, bool(antialias)), 2, s, key, bool(antialias))
    return finish(out)


# ----------------------------------------------------------------------------------------------
# A band of output rows (streaming a large image)
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _row_weights(height: int, s: float, method: str, antialias: bool, r0: int, r1: int):
    """The rows ``r0:r1`` of the row-axis matrix, restricted to the input rows they read: ``(matrix, lo, hi)``
    (cached: a streamed down-up asks for each band of rows several times; read-only)."""
    import scipy.sparse  # lazy: start-up (docs/performance.md)
    whole = _sparse_weights(height, s, _method_key(method), bool(antialias))
    part = whole[r0:r1]
    lo, hi = int(part.indices.min()), int(part.indices.max()) + 1
    sub = scipy.sparse.csr_matrix((part.data, part.indices - lo, part.indptr), shape=(r1 - r0, hi - lo))
    return sub, lo, hi


def imresize_input_rows(height: int, scale: float, r0: int, r1: int, method: str = "bicubic",
                        antialias: bool = True) -> tuple[int, int]:
    """Input rows ``lo:hi`` that the output rows ``r0:r1`` of :func:`imresize` read (an image of ``height`` rows)."""
    return _row_weights(height, float(scale), method, antialias, r0, r1)[1:]


def imresize_rows(rows_of: Callable[[int, int], np.ndarray], height: int, scale: float, r0: int, r1: int,
                  method: str = "bicubic", antialias: bool = True) -> np.ndarray:
    """Output rows ``r0:r1`` of ``imresize(image, scale, method)`` for a ``(C, height, W)`` float64 image
    that is never held whole: ``rows_of(lo, hi)`` returns ``image[:, lo:hi]``.

    Only the input rows these output rows read are requested (:func:`imresize_input_rows`: the
    kernel's reach, with the mirrored border folded in), and every output pixel is the same sum of
    the same products in the same order as in the whole-image call, so the band is bitwise equal to
    ``imresize(image, scale, method)[:, r0:r1]`` (tested). Returns ``(C, r1 - r0, ceil(W * scale))``.
    """
    s = float(scale)
    matrix, lo, hi = _row_weights(height, s, method, antialias, r0, r1)
    x = np.asarray(rows_of(lo, hi), dtype=np.float64)
    moved = np.moveaxis(x, 1, 0)
    rows = np.moveaxis((matrix @ moved.reshape(moved.shape[0], -1)).reshape((r1 - r0,) + moved.shape[1:]), 0, 1)
    return _resize_axis(rows, 2, s, _method_key(method), bool(antialias))
