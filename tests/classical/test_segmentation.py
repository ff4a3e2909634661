"""``pansharpen.classical.segmentation``: nearest-centre labels, chunked in place."""
import numpy as np
import pytest

from pansharpen.classical import segmentation
from pansharpen.classical.segmentation import assign_clusters


def _plain_labels(planes, centres):
    """The definition: the first centre of the least sum of squared band differences (band order)."""
    dist = np.stack([sum((band - value) ** 2 for band, value in zip(planes, centre)) for centre in centres])
    return np.argmin(dist, axis=0)


@pytest.mark.parametrize("chunk", [7, 1000, 65536])
def test_labels_are_the_nearest_centre_with_ties_to_the_first(monkeypatch, chunk):
    monkeypatch.setattr(segmentation, "ASSIGN_CHUNK", chunk)
    rng = np.random.default_rng(3)
    ties = rng.integers(0, 3, (4, 5003)).astype(float)  # small integers: many exact ties
    centres = rng.integers(0, 3, (5, 4)).astype(float)
    want = _plain_labels(ties, centres)
    np.testing.assert_array_equal(assign_clusters(ties, centres, channels_first=True), want)
    np.testing.assert_array_equal(assign_clusters(np.ascontiguousarray(ties.T), centres), want)
    smooth = rng.uniform(0, 2047, (8, 3001))
    centres = rng.uniform(0, 2047, (3, 8))
    np.testing.assert_array_equal(assign_clusters(smooth, centres, channels_first=True), _plain_labels(smooth, centres))
