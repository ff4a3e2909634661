"""The multi-scene corpus: the committed scene split and simulate_corpus on real scenes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from pansharpen.datasets.corpus import FAMILIES, family_scenes, load_catalogue, scene_of_rows, simulate_corpus
from pansharpen.errors import DataFormatError


def test_the_committed_split_is_by_scene_and_feeds_both_families():
    cat = load_catalogue()
    names = [s.name for s in cat]
    assert len(names) == len(set(names))
    for family in FAMILIES:
        train = {s.name for s in family_scenes(family, "train", cat)}
        valid = {s.name for s in family_scenes(family, "valid", cat)}
        assert train and valid and not train & valid
    assert all(s.reason for s in cat if s.split == "exclude")
    assert all(s.bits > 0 for s in cat if s.split != "exclude")


def test_every_pair_of_the_shared_corpus_is_listed(shared_dir):
    data = shared_dir / "data"
    if not data.is_dir():
        pytest.skip(f"{data} is absent")
    listed = {s.source for s in load_catalogue()}
    for family in ("worldview8", "vhr4"):
        for folder in sorted((data / family).iterdir()):
            if (folder / "pan.tif").is_file():
                assert f"{family}/{folder.name}" in listed, f"{family}/{folder.name} is not in corpus.toml"
    assert "landsat/*" in listed  # excluded as a whole, with its reason


def test_bad_catalogue_entries_are_refused(tmp_path):
    bad = tmp_path / "c.toml"
    bad.write_text('[[scene]]\nname = "a"\nsource = "x"\nsensor = "WV3"\nbits = 11\nfamilies = ["wv-8band"]\n'
                   'split = "test"\nterms = "t"\n')
    with pytest.raises(DataFormatError, match="split must be"):
        load_catalogue(bad)
    bad.write_text('[[scene]]\nname = "a"\nsource = "x"\nsensor = "WV3"\nbits = 11\nfamilies = []\n'
                   'split = "exclude"\nterms = "t"\n')
    with pytest.raises(DataFormatError, match="needs a reason"):
        load_catalogue(bad)


@pytest.mark.slow
def test_simulate_corpus_splits_by_scene_and_scales_by_bit_depth(shared_dir, tmp_path):
    data = shared_dir / "data"
    if not (data / "vhr4" / "grip_geoeye1").is_dir():
        pytest.skip(f"the shared corpus is absent under {data}")
    cat = tmp_path / "c.toml"
    cat.write_text(
        '[[scene]]\nname = "ik"\nsource = "vhr4/grip_ikonos"\nsensor = "IKONOS"\nbits = 11\n'
        'families = ["vhr-4band"]\nsplit = "train"\nterms = "GRIP"\n'
        '[[scene]]\nname = "ge"\nsource = "vhr4/grip_geoeye1"\nsensor = "GeoEye1"\nbits = 8\n'
        'families = ["vhr-4band"]\nsplit = "valid"\nterms = "GRIP"\n')
    paths = simulate_corpus("vhr-4band", tmp_path / "s.h5", root=data, catalogue=cat, max_patches=3, tile=128)
    manifest = json.loads(paths["manifest"].read_text())
    assert [(s["name"], s["split"]) for s in manifest["scenes"]] == [("ik", "train"), ("ge", "valid")]
    assert scene_of_rows(paths["train"]) == {"ik": [0, 3]} and scene_of_rows(paths["valid"]) == {"ge": [0, 4]}
    import h5py
    from pansharpen.io.raster import read_image

    ms, _ = read_image(data / "vhr4" / "grip_geoeye1" / "ms.tif")
    with h5py.File(paths["valid"]) as f:
        gt0, origin = f["gt"][0], f["origin"][:]
        assert f.attrs["normaliser"] == 2047.0
    assert set(origin[:, 0]) == {1}  # every validation image comes from the held-out scene
    # 8-bit GeoEye DN stored as 11-bit-equivalent DN: DN / 255 * 2047
    np.testing.assert_allclose(gt0, ms[:, :128, :128] * (2047.0 / 255.0), rtol=1e-6)


def test_simulate_command_refuses_an_unknown_family(tmp_path, capsys):
    from pansharpen.cli import main

    assert main(["simulate", "corpus:nope", "--out", str(tmp_path / "s.h5")]) == 2
    assert "unknown band family" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
