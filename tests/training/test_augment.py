"""On-the-fly augmentation: parsing, consistency across keys, reproducibility of training."""
from __future__ import annotations

import pytest
import torch

from pansharpen.datasets.training_sets import InMemorySet
from pansharpen.errors import ValueRangeError
from pansharpen.training.augment import AugmentedSet, _dihedral, parse_augment


def _set(n=4, c=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(n, c, 16, 16, generator=g)
    return InMemorySet(gt, gt[:, :, ::4, ::4], gt + 0.01, gt[:, :1])


def test_parse_augment():
    assert parse_augment(None) == {"dihedral": False, "gain": 0.0}
    assert parse_augment("dihedral,gain=0.2") == {"dihedral": True, "gain": 0.2}
    with pytest.raises(ValueRangeError, match="unknown augmentation"):
        parse_augment("mixup")
    with pytest.raises(ValueRangeError, match="gain must be"):
        parse_augment("gain=1.5")


def test_one_transform_and_one_gain_for_all_keys():
    base = _set()
    aug = AugmentedSet(base, 1.0, dihedral=True, gain=0.3, seed=5)
    seen = set()
    for _ in range(6):
        for i in range(len(base)):
            item, orig = aug[i], base[i]
            g = float(item["gt"].sum() / _dihedral(orig["gt"], 0).sum())
            assert 1 / 1.3 - 1e-6 <= g <= 1.3 + 1e-6
            match = [t for t in range(8) if torch.allclose(item["gt"], _dihedral(orig["gt"], t) * g, atol=1e-5)]
            assert match, "gt is not a dihedral transform of the sample times one gain"
            t = match[0]
            seen.add(t)
            for key in ("ms", "lms", "pan"):
                assert torch.allclose(item[key], _dihedral(orig[key], t) * g, atol=1e-5)
    assert len(seen) > 2


def test_same_seed_same_draws():
    a, b = AugmentedSet(_set(), 1.0, gain=0.3, seed=1), AugmentedSet(_set(), 1.0, gain=0.3, seed=1)
    for i in (0, 1, 0, 3):
        assert all(torch.equal(a[i][k], b[i][k]) for k in ("gt", "ms", "lms", "pan"))
    c = AugmentedSet(_set(), 1.0, gain=0.3, seed=2)
    assert not torch.equal(c[0]["gt"], AugmentedSet(_set(), 1.0, gain=0.3, seed=1)[0]["gt"])


def test_training_with_augmentation_is_reproducible_on_the_cpu(one_thread):
    from pansharpen.training.train import train

    def run():
        data = AugmentedSet(_set(n=8, c=4), 1.0, dihedral=True, gain=0.3, seed=0)
        return train("lightnet", data, epochs=2, batch_size=4, seed=0, quiet=True, normaliser=1.0,
                     model_options={"init": "balanced"}).model.state_dict()

    first, second = run(), run()
    assert all(torch.equal(first[k], second[k]) for k in first)
