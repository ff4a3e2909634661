"""Deterministic k-means for context-adaptive methods (C-GSA).

The centres are fitted once per scene (on at most ``max_samples`` pixels taken on a regular
stride, k-means++ seeding from a fixed seed, Lloyd iterations); every pixel of any tile is then
labelled by its nearest centre, so that tiles and the whole image agree exactly.
"""
from __future__ import annotations

import numpy as np


def assign_clusters(pixels: np.ndarray, centres: np.ndarray, channels_first: bool = False) -> np.ndarray:
    """Index of the nearest centre (squared Euclidean) of each pixel.

    ``pixels`` is ``(P, C)``, or ``(C, P)`` with ``channels_first``; ``centres`` is ``(K, C)``.
    Computed band by band (no BLAS call: ``K x C`` passes over the pixels, deterministic).
    """
    planes = pixels if channels_first else pixels.T
    best = np.full(planes.shape[1], np.inf)
    labels = np.zeros(planes.shape[1], dtype=np.intp)
    for j, centre in enumerate(centres):
        dist = np.zeros(planes.shape[1])
        for band, value in zip(planes, centre):
            diff = band - value
            dist += diff * diff
        closer = dist < best
        labels[closer] = j
        best = np.where(closer, dist, best)
    return labels


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
