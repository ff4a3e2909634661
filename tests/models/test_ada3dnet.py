"""Ada3D networks: published parameter counts, the authors' reference vectors (npz state dicts
and .pth checkpoints through the importer), save/load round trip, stability of the default
bias, tiling with precomputed global statistics, receptive field, bad input."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import ModelError, ShapeError, ValueRangeError
from pansharpen.models import count_parameters, create, load, save
from pansharpen.models.ada3dnet import from_reference_state_dict
from pansharpen.models.checkpoints import import_checkpoint, list_importers, read_checkpoint
from pansharpen.models.registry import complete_card

VECTORS = {  # case -> checkpoint file holding the same weights
    "ada3d_hs_pavia_w2000_rand": "ada3d_hs_pavia_2000.pth",
    "ada3d_hs_wdc_w1200_rand": "ada3d_hs_wdc_1200.pth",
}


@pytest.mark.parametrize(
    "name,bands,expected",
    [  # seed-implementations.md 3.3 (the authors' classes, counted)
        ("ada3d-pan", 8, 1_677_897),
        ("ada3d-pan", 4, 1_668_385),
        ("ada3d-hs", 191, 579_761),
        ("ada3d-hs", 102, 554_129),
        ("ada3d-hs", 145, 566_513),
        ("ada3d-hisr", 31, 2_296_657),
    ],
)
def test_published_parameter_counts(name, bands, expected):
    model = create(name, bands=bands)
    assert count_parameters(model) == expected == model.card.params
    assert model.card.global_pooling is True
    assert model.card.guide_bands == (3 if name == "ada3d-hisr" else 1)


def _vector(reference_dir, case):
    z = np.load(reference_dir / f"{case}.npz")
    state = {k[3:]: torch.from_numpy(z[k]) for k in z.files if k.startswith("sd/")}
    return state, torch.from_numpy(z["ms"]), torch.from_numpy(z["pan"]), torch.from_numpy(z["ms_up"]), torch.from_numpy(z["out"])


@pytest.mark.parametrize("case", sorted(VECTORS))
def test_reference_vector_from_npz_state_dict(reference_dir, case):
    state, ms, pan, ms_up, expected = _vector(reference_dir, case)
    model = from_reference_state_dict(state)
    assert model.bands == ms.shape[1] and model.card.options == {"bias": "reference"}
    with torch.no_grad():
        assert (model.upsample(ms) - ms_up).abs().max() <= 5e-6
        out = model(ms, pan)
    assert out.dtype == torch.float32
    assert (out - expected).abs().max().item() <= 5e-6


@pytest.mark.parametrize("case", sorted(VECTORS))
def test_reference_vector_through_checkpoint_importer(reference_dir, checkpoints_dir, case):
    _, ms, pan, _, expected = _vector(reference_dir, case)
    model = import_checkpoint("ada3d-hs", checkpoints_dir / VECTORS[case])
    assert model.card.training["imported_from"] == VECTORS[case]
    with torch.no_grad():
        assert (model(ms, pan) - expected).abs().max().item() <= 5e-6


def test_botswana_checkpoint_imports_and_runs(checkpoints_dir):
    model = import_checkpoint("ada3d-hs", checkpoints_dir / "ada3d_hs_botswana_2000.pth")
    assert model.bands == 145 and count_parameters(model) == 566_513
    g = torch.Generator().manual_seed(0)
    ms, pan = torch.rand(1, 145, 4, 4, generator=g) * 0.01, torch.rand(1, 1, 16, 16, generator=g) * 0.01
    with torch.no_grad():
        out = model(ms, pan)
    assert out.shape == (1, 145, 16, 16) and torch.isfinite(out).all()


def test_import_save_load_round_trip(reference_dir, checkpoints_dir, tmp_path):
    _, ms, pan, _, expected = _vector(reference_dir, "ada3d_hs_pavia_w2000_rand")
    model = import_checkpoint("ada3d-hs", checkpoints_dir / "ada3d_hs_pavia_2000.pth")
    path = save(model, tmp_path / "pavia.safetensors")
    loaded = load(path)
    assert loaded.card.arch == "ada3d-hs" and loaded.card.bands == 102 and loaded.card.options == {"bias": "reference"}
    with torch.no_grad():
        a, b = model(ms, pan), loaded(ms, pan)
    assert torch.equal(a, b) and (b - expected).abs().max() <= 5e-6


def test_importer_is_registered():
    assert "ada3d-hs" in list_importers()


def test_importer_rejects_other_architectures_and_band_counts(checkpoints_dir):
    spanconv = read_checkpoint(checkpoints_dir / "spanconv_wv3_weight-760.pth")
    with pytest.raises(ModelError, match="not an Ada3D"):
        from_reference_state_dict(spanconv)
    pavia = read_checkpoint(checkpoints_dir / "ada3d_hs_pavia_2000.pth")
    with pytest.raises(ModelError, match="102 bands, not 191"):
        from_reference_state_dict(pavia, bands=191)
    truncated = {k: v for k, v in pavia.items() if not k.startswith("spectral_layers.2.")}
    with pytest.raises(ModelError, match="does not fit"):
        from_reference_state_dict(truncated)
    widened = dict(pavia)
    widened["retore_dim.weight"] = torch.zeros(1, 16, 3, 3, 3)
    with pytest.raises(ModelError, match="wrong shapes"):
        from_reference_state_dict(widened)


def test_loading_weights_into_another_band_count_fails(tmp_path):
    path = save(create("ada3d-hs", bands=5), tmp_path / "hs5.safetensors")
    model = create("ada3d-hs", bands=6)
    from safetensors.torch import load_file

    with pytest.raises(RuntimeError):
        model.load_state_dict(load_file(str(path)))
    assert load(path).bands == 5


@pytest.mark.parametrize("name,bands,guide,ms_size", [("ada3d-pan", 8, 1, 4), ("ada3d-hs", 4, 1, 4), ("ada3d-hisr", 3, 3, 4)])
def test_default_bias_is_stable_up_to_1p5x_sensor_range(name, bands, guide, ms_size):
    """Forward and backward with inputs in [0, 1.5] (1.5x the normalised sensor range) stay finite."""
    torch.manual_seed(0)
    model = create(name, bands=bands)
    assert model.card.options == {} and all(layer.bias_mode == "bounded" for _, layer in model.ada3d_layers())
    g = torch.Generator().manual_seed(1)
    ms = (torch.rand(2, bands, ms_size, ms_size, generator=g) * 1.5).requires_grad_()
    pan = (torch.rand(2, guide, 4 * ms_size, 4 * ms_size, generator=g) * 1.5).requires_grad_()
    ms.data[0], pan.data[0] = 1.5, 1.5  # saturated image: the largest pooled statistics
    out = model(ms, pan)
    loss = (out - 1.5).abs().mean()
    loss.backward()
    assert torch.isfinite(out).all()
    grads = [ms.grad, pan.grad] + [p.grad for p in model.parameters()]
    assert all(gr is not None and torch.isfinite(gr).all() for gr in grads)


def test_reference_bias_blows_up_where_bounded_does_not(checkpoints_dir):
    """The WDC weights overflow at real-range inputs with the authors' bias (seed-implementations 3.8);
    the same weights with the bounded bias stay finite."""
    model = import_checkpoint("ada3d-hs", checkpoints_dir / "ada3d_hs_wdc_1200.pth")
    g = torch.Generator().manual_seed(0)
    ms, pan = torch.rand(1, 191, 4, 4, generator=g), torch.rand(1, 1, 16, 16, generator=g)
    with torch.no_grad():
        reference = model(ms, pan)
        for _, layer in model.ada3d_layers():
            layer.bias_mode = "bounded"
        bounded = model(ms, pan)
    assert not torch.isfinite(reference).all() or reference.abs().max() > 1e6
    assert torch.isfinite(bounded).all()


def _tiled(model, ms, pan, stats, tile, halo):
    """Fuse in tiles of ``tile`` MS pixels with ``halo`` MS pixels of context on each side."""
    r = model.ratio
    h, w = ms.shape[-2:]
    out = torch.empty(ms.shape[0], ms.shape[1], h * r, w * r, dtype=ms.dtype)
    for i in range(0, h, tile):
        for j in range(0, w, tile):
            i0, j0, i1, j1 = max(0, i - halo), max(0, j - halo), min(h, i + tile + halo), min(w, j + tile + halo)
            part = model(ms[..., i0:i1, j0:j1], pan[..., i0 * r : i1 * r, j0 * r : j1 * r], stats=stats)
            ii, jj = (i - i0) * r, (j - j0) * r
            out[..., i * r : (i + tile) * r, j * r : (j + tile) * r] = part[..., ii : ii + tile * r, jj : jj + tile * r]
    return out


@pytest.mark.parametrize(
    "name,bands,size,dtype,atol",
    [("ada3d-hs", 3, (16, 16), torch.float64, 1e-10), ("ada3d-pan", 2, (8, 24), torch.float32, 2e-5)],
)
def test_tiles_with_halo_and_global_stats_equal_whole_image(name, bands, size, dtype, atol):
    torch.manual_seed(0)
    model = create(name, bands=bands).to(dtype).eval()
    g = torch.Generator().manual_seed(0)
    h, w = size
    ms, pan = torch.rand(1, bands, h, w, generator=g, dtype=dtype), torch.rand(1, 1, 4 * h, 4 * w, generator=g, dtype=dtype)
    halo = -(-model.receptive_field() // model.ratio)  # MS pixels
    with torch.no_grad():
        whole = model(ms, pan)
        stats = model.global_stats(ms, pan)
        tiled = _tiled(model, ms, pan, stats, tile=8, halo=halo)
        naive_tiles = _tiled(model, ms, pan, None, tile=8, halo=halo)
    assert set(stats) == {f"stages.{i}.{w}.{p}" for i in range(len(model.stages)) for w in ("first", "second") for p in ("cube", "guide")}
    torch.testing.assert_close(tiled, whole, rtol=0, atol=atol)
    assert (naive_tiles - whole).abs().max() > 1e-4  # per-tile pooling differs: the stats matter


def test_receptive_field_bounds_the_local_dependence():
    """With the global statistics fixed, one output pixel depends only on inputs within the radius."""
    torch.manual_seed(0)
    model = create("ada3d-hs", bands=2).double()
    g = torch.Generator().manual_seed(0)
    ms, pan = torch.rand(1, 2, 16, 16, generator=g, dtype=torch.float64), torch.rand(1, 1, 64, 64, generator=g, dtype=torch.float64)
    stats = model.global_stats(ms, pan)
    ms.requires_grad_(), pan.requires_grad_()
    c, rf, r = 33, model.receptive_field(), model.ratio
    model(ms, pan, stats=stats)[0, :, c, c].sum().backward()
    rows, cols = torch.nonzero(pan.grad.abs().sum((0, 1)), as_tuple=True)
    assert (rows - c).abs().max() <= rf and (cols - c).abs().max() <= rf
    rows, cols = torch.nonzero(ms.grad.abs().sum((0, 1)), as_tuple=True)
    # farthest PAN pixel under each influencing MS pixel
    far = torch.maximum((c - r * rows).abs(), (r * rows + r - 1 - c).abs())
    assert far.max() <= rf and far.max() >= rf - r  # bound holds and is not loose by more than one MS pixel


def test_lms_is_ignored_and_output_shape():
    torch.manual_seed(0)
    model = create("ada3d-hs", bands=3).eval()
    ms, pan = torch.rand(1, 3, 4, 4), torch.rand(1, 1, 16, 16)
    with torch.no_grad():
        a, b = model(ms, pan), model(ms, pan, lms=torch.rand(1, 3, 16, 16))
    assert a.shape == (1, 3, 16, 16) and torch.equal(a, b)


def test_bad_input():
    model = create("ada3d-hs", bands=3)
    ms, pan = torch.rand(1, 3, 4, 4), torch.rand(1, 1, 16, 16)
    with pytest.raises(ShapeError, match="3 bands"):
        model(torch.rand(1, 4, 4, 4), pan)
    with pytest.raises(ShapeError, match="guide image"):
        create("ada3d-hisr", bands=3)(ms, pan)
    with pytest.raises(ShapeError, match="ratio 4"):
        model(ms, torch.rand(1, 1, 12, 12))
    bad = ms.clone()
    bad[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueRangeError, match="NaN"):
        model(bad, pan)
    with pytest.raises(ValueRangeError):
        model(ms, pan * float("inf"))
    with pytest.raises(ValueRangeError, match="floating-point"):
        model((ms * 2047).to(torch.int32), pan)
    with pytest.raises(ModelError, match="float32"):
        model(ms.double(), pan.double())
    with pytest.raises(ShapeError, match="torch tensor"):
        model(ms.numpy(), pan)
    stats = model.global_stats(ms, pan)
    with pytest.raises(ShapeError, match="stats lacks"):
        model(ms, pan, stats={k: v for k, v in stats.items() if "stages.2" not in k})
    with pytest.raises(ShapeError, match=r"stats\["):
        create("ada3d-hs", bands=4)(torch.rand(1, 4, 4, 4), pan, stats=stats)
    with pytest.raises(ModelError, match="unknown Ada3D options"):
        create("ada3d-pan", bands=8, dim=64)
    with pytest.raises(ModelError, match="bias"):
        create("ada3d-pan", bands=8, bias="tanh")


@pytest.mark.parametrize(
    "name,bands,published",
    [  # seed-implementations.md 3.3: conv MACs at 64 x 64 output, counted with FlopCounterMode on the authors' code
        ("ada3d-pan", 8, 5.221e9),
        ("ada3d-pan", 4, 5.165e9),
        ("ada3d-hs", 191, 2.560e9),
        ("ada3d-hs", 102, 2.294e9),
        ("ada3d-hs", 145, 2.422e9),
        ("ada3d-hisr", 31, 8.105e9),
    ],
)
def test_conv_macs_match_published_counts(name, bands, published):
    model = create(name, bands=bands)
    assert model.conv_macs(64) == pytest.approx(published, rel=2e-4)
    # the element-wise adaptive correlation: 27*C*L per pixel per layer (+ as many kernel-product multiplies)
    layers = 2 * len(model.stages)
    assert model.extra_macs() == 2 * layers * 27 * model.cube_head.out_channels * bands
    assert complete_card(model).macs_per_pixel == pytest.approx(published / 4096 + model.extra_macs(), rel=2e-4)


def test_macs_agree_with_flop_counter_helper():
    complexity = pytest.importorskip("pansharpen.models.complexity")
    model = create("ada3d-hs", bands=5)
    assert complexity.macs_per_pixel(model, 64) == pytest.approx(model.macs_per_pixel(64), rel=1e-9)


def test_global_stats_by_tiles_equal_whole_image_stats():
    torch.manual_seed(0)
    model = create("ada3d-hs", bands=2).double().eval()
    g = torch.Generator().manual_seed(3)
    ms, pan = torch.rand(1, 2, 12, 16, generator=g, dtype=torch.float64), torch.rand(1, 1, 48, 64, generator=g, dtype=torch.float64)
    whole = model.global_stats(ms, pan)
    tiled = model.global_stats(ms, pan, tile=7)  # uneven tiles at the right and bottom edges
    assert tiled.keys() == whole.keys()
    for key in whole:
        torch.testing.assert_close(tiled[key], whole[key], rtol=0, atol=1e-12)
    with pytest.raises(ShapeError, match="tile"):
        model.global_stats(ms, pan, tile=0)
