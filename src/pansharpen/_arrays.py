"""Conversions between numpy arrays and torch tensors used at the public API boundary.

Library convention: images are channels-first, ``(C, H, W)`` for one image or
``(N, C, H, W)`` for a batch, numpy or torch. Functions accept both kinds and
return the kind they were given (see :func:`to_torch` / :func:`restore`).

torch is not imported here, nor by the numpy-or-torch functions of ``protocol``, ``metrics`` and
``classical``: a tensor exists only once its caller has imported torch, so :func:`is_torch` asks
:func:`pansharpen.runtime.loaded_torch` and code that computes with torch gets it from :func:`torch_module`. That keeps
the 1.2-1.4 s import of torch out of the classical commands (``pansharpen fuse --method``,
``evaluate``, ``methods``; docs/performance.md "Start-up"), checked by
``tests/test_startup.py``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ShapeError, ValueRangeError
from .runtime import loaded_torch

if TYPE_CHECKING:
    import torch

ArrayLike = Any  # numpy.ndarray | torch.Tensor


def is_torch(x: ArrayLike) -> bool:
    """Whether ``x`` is a torch tensor (False, without importing torch, when torch is not loaded)."""
    torch = loaded_torch()
    return torch is not None and isinstance(x, torch.Tensor)


def torch_module():
    """The torch module, imported on first use (for code that computes with torch on numpy input)."""
    import torch  # start-up: the classical commands never reach this (see the module docstring)

    return torch


def to_numpy(x: ArrayLike, dtype=np.float64) -> np.ndarray:
    """Return ``x`` as a numpy array of ``dtype`` (detached, on CPU)."""
    if is_torch(x):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def to_torch(x: ArrayLike, dtype=None) -> torch.Tensor:
    """Return ``x`` as a torch tensor of ``dtype`` (default float64; numpy inputs are copied only if needed)."""
    torch = torch_module()
    dtype = torch.float64 if dtype is None else dtype
    if isinstance(x, torch.Tensor):
        return x.to(dtype)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x))).to(dtype)


def restore(result: torch.Tensor | np.ndarray, like: ArrayLike):
    """Return ``result`` as the same kind (numpy/torch) as ``like``, with ``like``'s dtype if floating."""
    if is_torch(like):
        out = result if is_torch(result) else torch_module().from_numpy(np.asarray(result))
        if like.is_floating_point():
            out = out.to(like.dtype)
        return out.to(like.device)
    out = result.detach().cpu().numpy() if is_torch(result) else np.asarray(result)
    like_arr = np.asarray(like)
    if np.issubdtype(like_arr.dtype, np.floating):
        out = out.astype(like_arr.dtype, copy=False)
    return out


def as_batch(x: ArrayLike, name: str = "image", channels: int | None = None):
    """View a ``(C, H, W)`` or ``(N, C, H, W)`` array as ``(N, C, H, W)``.

    Returns ``(batched, was_single)``. ``channels``, if given, is the expected ``C``.
    """
    nd = x.ndim
    if nd == 3:
        x4 = x[None]
        single = True
    elif nd == 4:
        x4 = x
        single = False
    elif nd == 2 and channels in (None, 1):
        x4 = x[None, None]
        single = True
    else:
        raise ShapeError(
            f"{name} must be (C, H, W) or (N, C, H, W) channels-first; got shape {tuple(x.shape)}. "
            "If your array is (H, W, C), transpose it with arr.transpose(2, 0, 1)."
        )
    if channels is not None and x4.shape[1] != channels:
        raise ShapeError(f"{name} must have {channels} band(s); got {x4.shape[1]} (shape {tuple(x.shape)})")
    return x4, single


def check_finite(x: ArrayLike, name: str = "image") -> None:
    """Raise :class:`ValueRangeError` if ``x`` holds NaN or inf."""
    finite = x.isfinite().all().item() if is_torch(x) else bool(np.isfinite(np.asarray(x)).all())
    if not finite:
        raise ValueRangeError(
            f"{name} contains NaN or inf values; mask or fill nodata before computing (e.g. np.nan_to_num)"
        )


def copy_in_column_chunks(dst: np.ndarray, src: np.ndarray, columns: int = 16) -> None:
    """``dst[...] = src`` a few ``columns`` of the last axis at a time: the same values, 3x faster
    when the two layouts differ (e.g. a ``(C, H, W)`` band-major ``dst`` from a resize's ``(W, C, H)``
    memory order, 16-column chunks of which stay in cache) than numpy's one strided copy."""
    for c in range(0, src.shape[-1], columns):
        dst[..., c : c + columns] = src[..., c : c + columns]
