"""Leave-scenes-out tables: per-scene means, scenes weighted equally, the classical references."""
from __future__ import annotations

import numpy as np
import pytest

from pansharpen.benchmark.crossscene import BEST_PER_SCENE, cross_scene
from pansharpen.errors import DataFormatError
from pansharpen.io.pancollection import PanCollectionWriter


def _write(path, n=3, attrs=True):
    rng = np.random.default_rng(0)
    shapes = {"gt": (4, 64, 64), "ms": (4, 16, 16), "lms": (4, 64, 64), "pan": (1, 64, 64), "origin": (4,)}
    from pansharpen.protocol.interp import interp23tap

    with PanCollectionWriter(path, shapes) as w:
        for i in range(n):
            gt = 200 + 800 * rng.random((4, 64, 64))
            ms = gt.reshape(4, 16, 4, 16, 4).mean(axis=(2, 4))
            w.append({"gt": gt[None], "ms": ms[None], "lms": np.asarray(interp23tap(ms, 4))[None],
                      "pan": gt.mean(0, keepdims=True)[None], "origin": np.array([[i, 0, 0, 0]])})
        if attrs:
            w.attrs.update(family="vhr-4band", ratio=4, scene_rows={"a": [0, 2], "b": [2, 3]},
                           scenes=[{"name": "a", "sensor": "GeoEye1"}, {"name": "b", "sensor": "none"}])


def test_scenes_count_once_and_references_are_consistent(tmp_path):
    _write(tmp_path / "v.h5")
    res = cross_scene(tmp_path / "v.h5", classical=["exp", "gsa", "mtf-glp"])
    assert res.images == {"a": 2, "b": 1}
    for m in ("exp", "gsa", "mtf-glp"):
        mean = res.mean(m)
        assert mean["Q2n"] == pytest.approx((res.per_scene[m]["a"]["Q2n"] + res.per_scene[m]["b"]["Q2n"]) / 2)
    assert res.best_classical in ("gsa", "mtf-glp")
    for s in ("a", "b"):
        best = res.best_per_scene[s]
        assert res.per_scene[BEST_PER_SCENE][s] == res.per_scene[best][s]
        assert all(res.per_scene[best][s]["Q2n"] >= res.per_scene[m][s]["Q2n"] for m in ("gsa", "mtf-glp"))
    assert "| exp |" in res.to_markdown()


def test_a_set_without_scene_manifest_is_refused(tmp_path):
    _write(tmp_path / "v.h5", attrs=False)
    with pytest.raises(DataFormatError, match="scene"):
        cross_scene(tmp_path / "v.h5", classical=["exp"])


def test_networks_are_scored_through_the_fuser_and_listed_first(tmp_path):
    from pansharpen.models import create

    _write(tmp_path / "v.h5")
    net = create("lightnet", bands=4)
    res = cross_scene(tmp_path / "v.h5", {"net": net}, classical=["exp"])
    assert res.methods()[0] == "net" and set(res.per_scene["net"]) == {"a", "b"}
    assert all(np.isfinite(v) for s in res.per_scene["net"].values() for v in s.values())


def test_cross_scene_command(tmp_path, capsys):
    from pansharpen.cli import main

    _write(tmp_path / "v.h5")
    assert main(["cross-scene", str(tmp_path / "v.h5"), "--methods", "exp,gsa", "--json", str(tmp_path / "r.json")]) == 0
    assert "| exp |" in capsys.readouterr().out and (tmp_path / "r.json").is_file()
    assert main(["cross-scene", str(tmp_path / "v.h5"), "--import", "nocolon"]) == 2
