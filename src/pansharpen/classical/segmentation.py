"""Deterministic k-means for context-adaptive methods (C-GSA).

The centres are fitted once per scene (on at most ``max_samples`` pixels taken on a regular
stride, k-means++ seeding from a fixed seed, Lloyd iterations); every pixel of any tile is then
labelled by its nearest centre, so that tiles and the whole image agree exactly.
"""
from __future__ import annotations

import numpy as np


def assign_clusters(pixels: np.ndarray, centres: np.ndarray, channels_first: bool = False) -> np.ndarray:
    """Index of the nearest centre (squared Euclidean) of each pixel (the first on ties).

    ``pixels`` is ``(P, C)``, or ``(C, P)`` with ``channels_first``; ``centres`` is ``(K, C)``.
    Computed band by band, ``sum_c (x_c - centre_c)^2`` in band order (no BLAS call, so a pixel's
    label does not depend on where it lies in a tile or strip), :data:`ASSIGN_CHUNK` pixels at a time
    in place (2x faster than whole-array temporaries, the same bits).
    """
    planes = pixels if channels_first else pixels.T
    size = planes.shape[1]
    labels = np.zeros(size, dtype=np.intp)
    chunk = min(size, ASSIGN_CHUNK)
    best, dist, term, closer = np.empty(chunk), np.empty(chunk), np.empty(chunk), np.empty(chunk, dtype=bool)
    for c0 in range(0, size, chunk):
        m = min(size, c0 + chunk) - c0
        for j, centre in enumerate(centres):
            d = best[:m] if j == 0 else dist[:m]
            d[:] = 0.0
            for band, value in zip(planes, centre):
                t = np.subtract(band[c0 : c0 + m], value, out=term[:m])
                d += np.multiply(t, t, out=t)
            if j:
                np.less(d, best[:m], out=closer[:m])
                labels[c0 : c0 + m][closer[:m]] = j
                np.minimum(d, best[:m], out=best[:m])
    return labels


#: Pixels per chunk of :func:`assign_clusters` (64k float64 = 512 kB per temporary).
ASSIGN_CHUNK = 65536


def kmeans(pixels: np.ndarray, k: int, *, seed: int = 0, iterations: int = 30, max_samples: int = 50_000) -> np.ndarray:
    """Centres ``(k', C)`` of ``pixels`` ``(P, C)`` (``k' <= k`` if there are fewer distinct pixels)."""
    if k < 1:
        raise ValueError(f"the number of clusters must be >= 1; got {k}")
    step = max(1, pixels.shape[0] // max_samples)
    sample = pixels[::step]
    distinct = np.unique(sample, axis=0)
    k = min(k, distinct.shape[0])
    rng = np.random.default_rng(seed)
    centres = [sample[rng.integers(sample.shape[0])]]
    dist = ((sample - centres[0]) ** 2).sum(axis=1)
    for _ in range(1, k):  # k-means++ seeding
        total = dist.sum()
        if total == 0:
            break
        idx = rng.choice(sample.shape[0], p=dist / total)
        centres.append(sample[idx])
        dist = np.minimum(dist, ((sample - sample[idx]) ** 2).sum(axis=1))
    centres = np.array(centres)
    for _ in range(iterations):
        labels = assign_clusters(sample, centres)
        counts = np.bincount(labels, minlength=len(centres))
        sums = np.stack([np.bincount(labels, weights=col, minlength=len(centres)) for col in sample.T], axis=1)
        new = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1)[:, None], centres)
        if np.allclose(new, centres):
            break
        centres = new
    return centres
