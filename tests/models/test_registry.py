"""Registry: names, create/save/load round trips, bad weights files, import-weights command."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from pansharpen.errors import DataFormatError, ModelError
from pansharpen.models import create, list_models, load, read_card, save
from pansharpen.models.cards import CARD_METADATA_KEY
from pansharpen.models.registry import complete_card


def _inputs(bands=8, h=6, w=5):
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, bands, h, w, generator=g), torch.rand(1, 1, 4 * h, 4 * w, generator=g), torch.rand(1, bands, 4 * h, 4 * w, generator=g)


def test_issue_names_are_registered():
    names = set(list_models())
    assert {"lightnet", "lgpconv-net", "pnn", "pannet", "dicnn", "fusionnet", "lgpconv-net-std", "lgpconv-net-bsconv"} <= names


@pytest.mark.parametrize(
    "name,bands,options",
    [("lightnet", 8, {}), ("lightnet", 4, {"num_kernels": 3}), ("lgpconv-net", 8, {"conv": "premier"}),
     ("lgpconv-net-bsconv", 4, {"blocks": 2}), ("pannet", 4, {}), ("fusionnet", 8, {})],
)
def test_create_save_load_round_trip(tmp_path, name, bands, options):
    model = create(name, bands=bands, **options).eval()
    path = save(model, tmp_path / f"{name}.safetensors")
    card = read_card(path)
    assert (card.arch, card.bands, card.options, card.params) == (name, bands, options, model.card.params)
    assert card.macs_per_pixel == complete_card(model).macs_per_pixel > 0 and card.receptive_field == complete_card(model).receptive_field > 0
    again = load(path)
    ms, pan, lms = _inputs(bands)
    with torch.no_grad():
        torch.testing.assert_close(again(ms, pan, lms), model(ms, pan, lms), rtol=0, atol=0)


def _rewrite_card(src, dst, **changes):
    tensors = load_file(str(src))
    card = json.loads(read_card(src).to_json())
    card.update(changes)
    save_file(tensors, str(dst), metadata={CARD_METADATA_KEY: json.dumps(card), "pansharpen.format": "1"})


def test_weights_of_another_architecture_or_band_count_are_refused(tmp_path):
    path = save(create("lightnet"), tmp_path / "lightnet.safetensors")
    _rewrite_card(path, tmp_path / "as_lgp.safetensors", arch="lgpconv-net")
    with pytest.raises(ModelError, match="do not fit architecture lgpconv-net"):
        load(tmp_path / "as_lgp.safetensors")
    _rewrite_card(path, tmp_path / "as_4.safetensors", bands=4)
    with pytest.raises(ModelError, match="4 bands"):
        load(tmp_path / "as_4.safetensors")


def test_truncated_or_foreign_files_are_refused(tmp_path):
    path = save(create("dicnn"), tmp_path / "dicnn.safetensors")
    data = path.read_bytes()
    (tmp_path / "cut.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFormatError, match="truncated"):
        load(tmp_path / "cut.safetensors")
    save_file({"w": torch.zeros(2)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(DataFormatError, match="no pansharpen model card"):
        load(tmp_path / "plain.safetensors")
    with pytest.raises(ModelError, match="neither a weights file"):
        load(tmp_path / "missing.safetensors")


def test_unknown_names_and_options():
    with pytest.raises(ModelError, match="unknown model"):
        create("lightnet2")
    with pytest.raises(ModelError, match="bands"):
        create("lightnet", bands=0)
    with pytest.raises(ModelError, match="conv must be one of"):
        create("lgpconv-net", conv="dense")


def test_import_weights_command(checkpoints_dir, tmp_path):
    from pansharpen.cli import models_cmd  # noqa: F401  (registers the commands)
    from pansharpen.cli.app import app

    out = tmp_path / "lightnet-wv3.safetensors"
    app(args=["import-weights", "lightnet", str(checkpoints_dir / "spanconv_wv3_weight-760.pth"), str(out)], standalone_mode=False)
    assert load(out).card.params == 16264
    app(args=["import-weights", "lgpconv-net", str(checkpoints_dir / "lgpconv_wv3_650.pth"), str(tmp_path / "x.safetensors")], standalone_mode=False)
    assert load(tmp_path / "x.safetensors").card.options == {"perturbation": "full"}


def test_truncated_checkpoint_is_refused(checkpoints_dir, tmp_path):
    from pansharpen.models.checkpoints import import_checkpoint

    data = (checkpoints_dir / "spanconv_wv3_weight-760.pth").read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 3])
    with pytest.raises(DataFormatError, match="cannot read checkpoint"):
        import_checkpoint("lightnet", tmp_path / "cut.pth")
    with pytest.raises(ModelError, match="no importer"):
        import_checkpoint("resnet", checkpoints_dir / "spanconv_wv3_weight-760.pth")


def test_bundled_corpus_weights_and_the_default_table():
    from pansharpen.models import bundled_weights
    from pansharpen.models.registry import default_choices

    names = bundled_weights()
    for name, bands in (("lightnet.wv-8band", 8), ("lgpconv-net.wv-8band", 8), ("lightnet.vhr-4band", 4),
                        ("lgpconv-net.vhr-4band", 4), ("lightnet-wv3", 8), ("lgpconv-net-wv3", 8)):
        assert name in names
        card = load(name).card
        assert card.bands == bands
        if "." in name:
            assert card.name == name and "cross_scene_mean" in card.metrics
    from pansharpen.classical import get_method

    for bands in (8, 6, 4, 3, 5):
        entries = default_choices(bands)
        assert entries and all(e.get("why") for e in entries)
        for e in entries:
            if "model" in e:
                assert e["model"] in names and load(e["model"]).card.bands == bands
            else:
                get_method(e["method"])


def test_product_options_are_declared_at_registration():
    """A factory that takes product facts says so; adapt builds fresh networks from the declaration."""
    from pansharpen.models import product_options
    from pansharpen.models.registry import register

    assert product_options("detail-net") == ("ratio", "mtf_gains")
    assert product_options("lightnet") == ()
    with pytest.raises(ModelError, match="unknown product options"):
        register("never-registered", paper="-", product_options=("sensor_name",))
