"""Conversions between numpy arrays and torch tensors used at the public API boundary.

Library convention: images are channels-first, ``(C, H, W)`` for one image or
``(N, C, H, W)`` for a batch, numpy or torch. Functions accept both kinds and
return the kind they were given (see :func:`to_torch` / :func:`restore`).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from .errors import ShapeError, ValueRangeError

ArrayLike = Any  # numpy.ndarray | torch.Tensor


def is_torch(x: ArrayLike) -> bool:
    return isinstance(x, torch.Tensor)


def to_numpy(x: ArrayLike, dtype=np.float64) -> np.ndarray:
    """Return ``x`` as a numpy array of ``dtype`` (detached, on CPU)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x)
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr


def to_torch(x: ArrayLike, dtype=torch.float64) -> torch.Tensor:
    """Return ``x`` as a torch tensor of ``dtype`` (numpy inputs are copied only if needed)."""
    if isinstance(x, torch.Tensor):
        return x.to(dtype)
    return torch.from_numpy(np.ascontiguousarray(np.asarray(x))).to(dtype)


def restore(result: torch.Tensor | np.ndarray, like: ArrayLike):
    """Return ``result`` as the same kind (numpy/torch) as ``like``, with ``like``'s dtype if floating."""
    if isinstance(like, torch.Tensor):
        out = result if isinstance(result, torch.Tensor) else torch.from_numpy(np.asarray(result))
        if like.is_floating_point():
            out = out.to(like.dtype)
        return out.to(like.device)
    out = result.detach().cpu().numpy() if isinstance(result, torch.Tensor) else np.asarray(result)
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
    finite = torch.isfinite(x).all().item() if isinstance(x, torch.Tensor) else bool(np.isfinite(np.asarray(x)).all())
    if not finite:
        raise ValueRangeError(
            f"{name} contains NaN or inf values; mask or fill nodata before computing (e.g. np.nan_to_num)"
        )
