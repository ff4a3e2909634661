"""Window and block arithmetic without Python loops over pixels or blocks."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError


def matlab_uint16(x: np.ndarray) -> np.ndarray:
    """MATLAB ``uint16(x)`` as float64: round half away from zero, saturate to [0, 65535]."""
    out = np.add(x, 0.5)
    np.floor(out, out=out)
    return np.clip(out, 0.0, 65535.0, out=out)


def pad_to_blocks(x: np.ndarray, block_size: int, shift: int) -> np.ndarray:
    """Pad ``(..., H, W)`` at the bottom/right by symmetric mirroring (edge included), as ``q2n.m``.

    The padded size is ``(ceil(H/shift) - 1) * shift + block_size``, which holds
    ``ceil(H/shift)`` blocks. The reference mirrors once, so it fails when the padding exceeds
    the image; so do we.
    """
    h, w = x.shape[-2:]
    steps_h, steps_w = -(-h // shift), -(-w // shift)
    extra_h = (steps_h - 1) * shift + block_size - h
    extra_w = (steps_w - 1) * shift + block_size - w
    if extra_h > h or extra_w > w:
        raise ShapeError(
            f"image {h}x{w} is too small for block size {block_size}: the reference q2n mirrors at most the "
            f"whole image to reach a block multiple; use images of at least {block_size // 2 + 1} pixels a side "
            "or a smaller block_size"
        )
    if extra_h or extra_w:
        pad = [(0, 0)] * (x.ndim - 2) + [(0, extra_h), (0, extra_w)]
        x = np.pad(x, pad, mode="symmetric")
    return x


def blocks(x: np.ndarray, block_size: int, shift: int) -> np.ndarray:
    """Blocks of ``(..., H, W)`` with top-left corners every ``shift`` pixels: ``(..., nblocks, block_size**2)``.

    ``H`` and ``W`` must already fit (see :func:`pad_to_blocks`).
    """
    if shift == block_size:
        *lead, h, w = x.shape
        nb_h, nb_w = h // block_size, w // block_size
        v = x[..., : nb_h * block_size, : nb_w * block_size]
        v = v.reshape(*lead, nb_h, block_size, nb_w, block_size)
        v = np.moveaxis(v, -3, -2)  # (..., nb_h, nb_w, bs, bs)
    else:
        v = np.lib.stride_tricks.sliding_window_view(x, (block_size, block_size), axis=(-2, -1))
        v = v[..., ::shift, ::shift, :, :]
    return v.reshape(*v.shape[:-4], v.shape[-4] * v.shape[-3], block_size * block_size)


def box_sum_valid(x: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``x`` over every ``size`` x ``size`` window ('valid'): ``(..., H-size+1, W-size+1)``.

    Separable running sums: exact for integer-valued data (sums stay below 2**53).
    """
    c = np.cumsum(x, axis=-2)
    c = np.concatenate([np.zeros_like(c[..., :1, :]), c], axis=-2)
    rows = c[..., size:, :] - c[..., :-size, :]
    c = np.cumsum(rows, axis=-1)
    c = np.concatenate([np.zeros_like(c[..., :1]), c], axis=-1)
    return c[..., size:] - c[..., :-size]
