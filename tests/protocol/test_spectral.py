"""Spectral responses: built-in curves from band edges, user files, validation, spectral_degrade."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from pansharpen.errors import DataFormatError, ShapeError, ValueRangeError
from pansharpen.protocol.spectral import (
    SpectralResponse,
    builtin_response,
    check_response_matrix,
    gaussian_response,
    load_response,
    spectral_degrade,
)


def test_wv3_pan_is_flat_inside_450_800_and_zero_outside():
    # data sheet: PAN 450-800 nm; 10 nm shoulders -> zero below 440 and above 810
    centres = np.array([400.0, 430.0, 500.0, 600.0, 700.0, 790.0, 850.0, 1000.0])
    r = builtin_response("wv3-pan").at(centres)
    np.testing.assert_allclose(r, [[0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0]], atol=1e-12)


def test_shoulder_is_linear():
    # 445 nm is half way down the 440-450 shoulder: weight 0.5 against 1.0 at 500 nm
    r = builtin_response("wv3-pan").at([445.0, 500.0])
    np.testing.assert_allclose(r, [[1 / 3, 2 / 3]])


def test_rgb_peaks_and_half_maximum():
    grid = np.arange(350.0, 1001.0)
    rgb = builtin_response("rgb", grid)
    assert rgb.names == ("Red", "Green", "Blue")
    assert [grid[i] for i in rgb.matrix.argmax(axis=1)] == [610.0, 540.0, 460.0]
    # Gaussian with FWHM 80 nm: half maximum 40 nm from the centre
    red = rgb.matrix[0] / rgb.matrix[0].max()
    assert red[grid == 650.0][0] == pytest.approx(0.5, abs=1e-12)


def test_gaussian_fwhm_by_hand():
    g = gaussian_response([500.0], [100.0], ["x"], np.array([450.0, 500.0, 550.0]))
    np.testing.assert_allclose(g.matrix[0] / g.matrix[0].max(), [0.5, 1.0, 0.5])


def test_vnir_response_has_eight_bands_in_data_sheet_order():
    vnir = builtin_response("wv3-vnir")
    assert vnir.bands == 8 and vnir.names[0] == "Coastal" and vnir.names[-1] == "NIR2"


def test_spectral_degrade_by_hand_numpy_and_torch():
    cube = np.stack([np.full((2, 3), 10.0), np.full((2, 3), 20.0), np.full((2, 3), 60.0)])
    r = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]])  # rows normalised to sum 1
    out = spectral_degrade(cube, r)
    np.testing.assert_allclose(out[:, 0, 0], [15.0, 60.0])
    assert out.shape == (2, 2, 3)
    t = spectral_degrade(torch.from_numpy(cube).float()[None], r)
    assert isinstance(t, torch.Tensor) and t.shape == (1, 2, 2, 3) and t.dtype == torch.float32
    np.testing.assert_allclose(t[0, :, 0, 0].numpy(), [15.0, 60.0])


def test_spectral_degrade_with_wavelengths_and_builtin_name():
    cube = np.random.default_rng(0).uniform(0, 1, (5, 4, 4))
    centres = np.array([420.0, 500.0, 600.0, 700.0, 900.0])
    pan = spectral_degrade(cube, "wv3-pan", centres)
    np.testing.assert_allclose(pan[0], cube[1:4].mean(axis=0))


def test_load_csv_with_wavelength_header(tmp_path):
    f = tmp_path / "r.csv"
    f.write_text("# two bands\nwavelength,400,500,600\n0,1,1\n1,0,0\n")
    resp = load_response(f)
    assert isinstance(resp, SpectralResponse) and resp.bands == 2
    np.testing.assert_allclose(resp.at([450.0, 550.0]), [[1 / 3, 2 / 3], [1.0, 0.0]])


def test_load_plain_csv_npy_npz(tmp_path):
    m = np.array([[1.0, 3.0], [2.0, 2.0]])
    (tmp_path / "m.csv").write_text("1,3\n2,2\n")
    np.save(tmp_path / "m.npy", m)
    np.savez(tmp_path / "m.npz", matrix=m, wavelengths=np.array([500.0, 600.0]))
    expected = m / m.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(load_response(tmp_path / "m.csv"), expected)
    np.testing.assert_allclose(load_response(tmp_path / "m.npy"), expected)
    assert isinstance(load_response(tmp_path / "m.npz"), SpectralResponse)


def test_load_errors(tmp_path):
    with pytest.raises(DataFormatError, match="does not exist"):
        load_response(tmp_path / "nope.csv")
    (tmp_path / "ragged.csv").write_text("1,2,3\n1,2\n")
    with pytest.raises(DataFormatError, match="different lengths"):
        load_response(tmp_path / "ragged.csv")
    (tmp_path / "text.csv").write_text("a,b\n")
    with pytest.raises(DataFormatError, match="cannot read"):
        load_response(tmp_path / "text.csv")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(DataFormatError, match="unknown response format"):
        load_response(tmp_path / "x.json")
    (tmp_path / "trunc.npy").write_bytes(b"\x93NUMPY\x01\x00")
    with pytest.raises(DataFormatError):
        load_response(tmp_path / "trunc.npy")


@pytest.mark.parametrize(
    "matrix, error, match",
    [
        ([[1.0, 0.0], [0.0, 0.0]], ValueRangeError, r"row\(s\) \[1\]"),
        ([[1.0, -2.0]], ValueRangeError, "negative"),
        ([[1.0, np.nan]], ValueRangeError, "NaN"),
        (np.ones((2, 2, 2)), ShapeError, "matrix"),
    ],
)
def test_bad_matrices(matrix, error, match):
    with pytest.raises(error, match=match):
        check_response_matrix(np.array(matrix))


def test_band_count_mismatch_between_cube_and_matrix():
    with pytest.raises(ShapeError, match="3 columns but the cube has 4 bands"):
        spectral_degrade(np.zeros((4, 2, 2)), np.ones((1, 3)))


def test_curve_response_needs_centres_that_overlap():
    cube = np.ones((3, 2, 2))
    with pytest.raises(ValueRangeError, match="wavelengths="):
        spectral_degrade(cube, "rgb")
    with pytest.raises(ShapeError, match="2 band centres"):
        spectral_degrade(cube, "rgb", [500.0, 600.0])
    with pytest.raises(ValueRangeError, match="positive total response"):
        spectral_degrade(cube, "wv3-pan", [1500.0, 1600.0, 1700.0])


def test_bad_cube():
    with pytest.raises(ShapeError):
        spectral_degrade(np.zeros((2, 2)), np.ones((1, 2)))
    cube = np.ones((2, 2, 2))
    cube[0, 0, 0] = np.inf
    with pytest.raises(ValueRangeError, match="NaN or inf"):
        spectral_degrade(cube, np.ones((1, 2)))


def test_unknown_builtin():
    with pytest.raises(ValueRangeError, match="unknown built-in"):
        builtin_response("landsat")


def test_unknown_response_name_lists_the_builtins():
    with pytest.raises(DataFormatError, match="neither a built-in"):
        spectral_degrade(np.ones((3, 2, 2)), "landsat-pan", [500.0, 600.0, 700.0])
