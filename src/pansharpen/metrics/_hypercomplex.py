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
