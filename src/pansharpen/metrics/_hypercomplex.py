"""Cayley-Dickson hypercomplex arithmetic for Q2n, vectorised over everything but the components.

An array of shape ``(n, ...)`` holds ``...`` hypercomplex numbers with ``n = 2**k`` real
components each (complex for 2, quaternions for 4, octonions for 8). The product is the
recursion of the reference ``onion_mult.m``/``onion_mult2D.m`` (metrics-reference section 3.4):
split ``x = (a, b)``, ``y = (c, d)`` into halves; then

    x * y = (a*c - conj(d)*b,  conj(a)*conj(d) + c*conj(b)),

recursing down to real numbers. Octonions are not associative, so the exact form matters.
The recursion runs over ``log2(n)`` levels, never over the numbers themselves.
"""
from __future__ import annotations

import functools

import numpy as np


def conj(x: np.ndarray) -> np.ndarray:
    """Conjugate: negate every component but the first."""
    out = -x
    out[0] = x[0]
    return out


def multiply(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cayley-Dickson product of ``x`` and ``y`` (components along axis 0, broadcast elsewhere)."""
    n = x.shape[0]
    if n == 1:
        return x * y
    half = n // 2
    a, b = x[:half], x[half:]
    c, d = y[:half], y[half:]
    d_conj = conj(d)
    first = multiply(a, c) - multiply(d_conj, b)
    second = multiply(conj(a), d_conj) + multiply(c, conj(b))
    return np.concatenate([first, second], axis=0)


@functools.lru_cache(maxsize=8)
def structure_tensor(n: int) -> np.ndarray:
    """``T`` with ``(x * y)_k = sum_ij T[k, i, j] x_i y_j`` for the product above: ``(n, n, n)``.

    The product is bilinear, so the mean of products over many pixels is ``T`` applied to the
    matrix of mean component products (one matrix product per block instead of ``n**2``
    full-size array products).
    """
    eye = np.eye(n)
    t = multiply(eye[:, :, None], eye[:, None, :])  # t[k, i, j] = (e_i * e_j)_k
    t.setflags(write=False)
    return t


def mean_product(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean over the last axis of the products ``x * y``: ``(n, ..., M) -> (n, ...)``."""
    n = x.shape[0]
    xs, ys = np.moveaxis(x, 0, -2), np.moveaxis(y, 0, -2)  # (..., n, M)
    moments = (xs @ ys.swapaxes(-1, -2)) / x.shape[-1]  # E[x_i y_j]: (..., n, n)
    return np.einsum("kij,...ij->k...", structure_tensor(n), moments)
