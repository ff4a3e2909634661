"""Spectral response matrices and spectral degradation (HS cube -> PAN, RGB or MS).

A spectral response is a non-negative matrix ``R`` of shape ``(bands_out, n_wavelengths)``
sampled on a wavelength grid (nm). Degrading a cube with ``L`` bands whose centres are
``lambda_1..lambda_L`` uses the response sampled at those centres, each row normalised to
sum 1 so that the output stays in the cube's digital numbers:

    out_b(x) = sum_l  R~[b, l] * cube_l(x),     R~[b, l] = R_b(lambda_l) / sum_l' R_b(lambda_l')

(the usual linear model of HISR papers, e.g. Yokoya et al., "Hyperspectral and multispectral
data fusion", IEEE GRSM 2017, eq. 2: ``Y_m = R X``).

Built-in responses are **approximations** from published band edges, not measured curves:

* ``"wv3-pan"``: WorldView-3 panchromatic, a box over 450-800 nm (DigitalGlobe WorldView-3
  data sheet, "Panchromatic: 450 - 800 nm"), with 10 nm linear shoulders.
* ``"wv3-vnir"``: the eight WorldView-3 VNIR bands as boxes over their data-sheet ranges
  (Coastal 400-450, Blue 450-510, Green 510-580, Yellow 585-625, Red 630-690,
  Red Edge 705-745, NIR1 770-895, NIR2 860-1040 nm).
* ``"rgb"``: a consumer RGB camera as three Gaussians (centres 460, 540, 610 nm; FWHM 90,
  90, 80 nm), a smooth stand-in for the Bayer filter curves (e.g. the Nikon D700 response used
  to simulate CAVE's HR-RGB); ``load_response`` takes a measured curve instead.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._arrays import ArrayLike, check_finite, restore, to_numpy
from ..errors import DataFormatError, ShapeError, ValueRangeError

__all__ = [
    "SpectralResponse",
    "WV3_PAN_RANGE",
    "WV3_VNIR_RANGES",
    "WV3_SWIR_RANGES",
    "band_centres",
    "box_response",
    "gaussian_response",
    "builtin_response",
    "builtin_responses",
    "load_response",
    "check_response_matrix",
    "spectral_degrade",
]

#: default wavelength grid of the built-in curves: 350..2500 nm every 1 nm
DEFAULT_GRID = np.arange(350.0, 2501.0, 1.0)

#: WorldView-3 data sheet (DigitalGlobe, 2014) band edges in nm
WV3_PAN_RANGE = (450.0, 800.0)
WV3_VNIR_RANGES: dict[str, tuple[float, float]] = {
    "Coastal": (400.0, 450.0),
    "Blue": (450.0, 510.0),
    "Green": (510.0, 580.0),
    "Yellow": (585.0, 625.0),
    "Red": (630.0, 690.0),
    "RedEdge": (705.0, 745.0),
    "NIR1": (770.0, 895.0),
    "NIR2": (860.0, 1040.0),
}
WV3_SWIR_RANGES: dict[str, tuple[float, float]] = {
    "SWIR1": (1195.0, 1225.0),
    "SWIR2": (1550.0, 1590.0),
    "SWIR3": (1640.0, 1680.0),
    "SWIR4": (1710.0, 1750.0),
    "SWIR5": (2145.0, 2185.0),
    "SWIR6": (2185.0, 2225.0),
    "SWIR7": (2235.0, 2285.0),
    "SWIR8": (2295.0, 2365.0),
}

_RGB_CENTRES = (610.0, 540.0, 460.0)  # red, green, blue
_RGB_FWHM = (80.0, 90.0, 90.0)


def band_centres(ranges: "dict[str, tuple[float, float]]") -> np.ndarray:
    """Centres (nm) of ``{name: (low, high)}`` band ranges, in the dict's order."""
    return np.array([(lo + hi) / 2 for lo, hi in ranges.values()])


def check_response_matrix(matrix: ArrayLike, bands: int | None = None, name: str = "response") -> np.ndarray:
    """Validate a ``(bands_out, L)`` response and return it float64 with rows summing to 1.

    Raises:
        ShapeError: not 2-D, or ``L`` differs from ``bands`` (the cube's band count).
        ValueRangeError: NaN/inf, negative entries, or a row whose sum is not positive.
    """
    r = to_numpy(matrix)
    if r.ndim == 1:
        r = r[None]
    if r.ndim != 2 or r.shape[0] == 0 or r.shape[1] == 0:
        raise ShapeError(f"{name} must be a (bands_out, bands_in) matrix; got shape {r.shape}")
    if bands is not None and r.shape[1] != bands:
        raise ShapeError(
            f"{name} has {r.shape[1]} columns but the cube has {bands} bands; give one column per cube band, "
            "or a SpectralResponse on a wavelength grid with the cube's band centres (wavelengths=...)"
        )
    if not np.isfinite(r).all():
        raise ValueRangeError(f"{name} contains NaN or inf; give finite, non-negative responses")
    if (r < 0).any():
        raise ValueRangeError(f"{name} has negative entries (min {r.min():g}); responses must be >= 0")
    sums = r.sum(axis=1)
    bad = np.flatnonzero(~(sums > 0))
    if bad.size:
        raise ValueRangeError(
            f"{name}: row(s) {bad.tolist()} sum to {sums[bad].tolist()}; every output band needs a positive total "
            "response over the cube's bands (check that its wavelength range overlaps the cube's)"
        )
    return r / sums[:, None]


@dataclass(frozen=True)
class SpectralResponse:
    """Response curves of ``bands_out`` output bands on a wavelength grid.

    Attributes:
        matrix: ``(bands_out, n_wavelengths)`` relative responses >= 0 (any scale).
        wavelengths: ``(n_wavelengths,)`` strictly increasing, nm.
        names: one name per output band.
        source: where the curves come from (shown in provenance and docs).
    """

    matrix: np.ndarray
    wavelengths: np.ndarray
    names: tuple[str, ...]
    source: str = ""

    def __post_init__(self) -> None:
        m = np.atleast_2d(np.asarray(self.matrix, dtype=np.float64))
        w = np.asarray(self.wavelengths, dtype=np.float64)
        if w.ndim != 1 or m.shape[1] != w.size:
            raise ShapeError(
                f"response matrix {m.shape} needs one wavelength per column; got {w.size} wavelengths"
            )
        if w.size > 1 and not (np.diff(w) > 0).all():
            raise ValueRangeError("response wavelengths must be strictly increasing (nm)")
        if len(self.names) != m.shape[0]:
            raise ShapeError(f"{len(self.names)} names for {m.shape[0]} response rows")
        check_response_matrix(m, name=f"response {self.source or ''}".strip())
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "wavelengths", w)
        object.__setattr__(self, "names", tuple(self.names))

    @property
    def bands(self) -> int:
        return self.matrix.shape[0]

    def at(self, centres: Sequence[float]) -> np.ndarray:
        """The response sampled at cube band centres (nm), rows normalised: ``(bands_out, L)``.

        Linear interpolation of each curve; zero outside the grid.

        Raises:
            ValueRangeError: an output band has no response at any of the centres.
        """
        c = np.asarray(centres, dtype=np.float64).ravel()
        if c.size == 0 or not np.isfinite(c).all():
            raise ValueRangeError("band centres must be a non-empty list of finite wavelengths (nm)")
        sampled = np.stack([np.interp(c, self.wavelengths, row, left=0.0, right=0.0) for row in self.matrix])
        return check_response_matrix(
            sampled, name=f"response {self.source or ''} at the cube's band centres {c.min():g}-{c.max():g} nm".strip()
        )


def box_response(
    ranges: Sequence[tuple[float, float]], names: Sequence[str], wavelengths: ArrayLike | None = None,
    shoulder: float = 10.0, source: str = "",
) -> SpectralResponse:
    """Trapezoids: 1 inside each ``(low, high)`` range, falling linearly to 0 over ``shoulder`` nm outside."""
    w = DEFAULT_GRID if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
    rows = []
    for lo, hi in ranges:
        if not hi > lo:
            raise ValueRangeError(f"band range ({lo}, {hi}) must have high > low (nm)")
        if shoulder > 0:
            rise = np.clip((w - (lo - shoulder)) / shoulder, 0, 1)
            fall = np.clip(((hi + shoulder) - w) / shoulder, 0, 1)
            rows.append(np.minimum(rise, fall))
        else:
            rows.append(((w >= lo) & (w <= hi)).astype(np.float64))
    return SpectralResponse(np.stack(rows), w, tuple(names), source)


def gaussian_response(
    centres: Sequence[float], fwhm: Sequence[float], names: Sequence[str], wavelengths: ArrayLike | None = None,
    source: str = "",
) -> SpectralResponse:
    """Gaussians ``exp(-(lambda - c)^2 / (2 s^2))`` with ``s = FWHM / (2 sqrt(2 ln 2))``."""
    w = DEFAULT_GRID if wavelengths is None else np.asarray(wavelengths, dtype=np.float64)
    if len(centres) != len(fwhm):
        raise ShapeError(f"{len(centres)} centres but {len(fwhm)} FWHM values")
    if any(not f > 0 for f in fwhm):
        raise ValueRangeError(f"FWHM values must be positive; got {list(fwhm)}")
    s = np.asarray(fwhm, dtype=np.float64) / (2 * np.sqrt(2 * np.log(2)))
    rows = np.exp(-((w[None] - np.asarray(centres, dtype=np.float64)[:, None]) ** 2) / (2 * s[:, None] ** 2))
    return SpectralResponse(rows, w, tuple(names), source)


def builtin_responses() -> list[str]:
    """Names accepted by :func:`builtin_response`."""
    return ["rgb", "wv3-pan", "wv3-vnir"]


def builtin_response(name: str, wavelengths: ArrayLike | None = None) -> SpectralResponse:
    """A built-in response (``"rgb"``, ``"wv3-pan"``, ``"wv3-vnir"``) on ``wavelengths`` (default 350-2500 nm)."""
    key = str(name).strip().lower().replace("_", "-")
    if key == "wv3-pan":
        return box_response([WV3_PAN_RANGE], ["PAN"], wavelengths,
                            source="WorldView-3 data sheet: PAN 450-800 nm (box, 10 nm shoulders)")
    if key == "wv3-vnir":
        return box_response(list(WV3_VNIR_RANGES.values()), list(WV3_VNIR_RANGES), wavelengths,
                            source="WorldView-3 data sheet: 8 VNIR band ranges (boxes, 10 nm shoulders)")
    if key == "rgb":
        return gaussian_response(_RGB_CENTRES, _RGB_FWHM, ["Red", "Green", "Blue"], wavelengths,
                                 source="RGB camera approximation: Gaussians at 610/540/460 nm, FWHM 80/90/90 nm")
    raise ValueRangeError(f"unknown built-in response {name!r}; known: {', '.join(builtin_responses())}, or a file")


def load_response(path: "str | os.PathLike", names: Sequence[str] | None = None) -> "SpectralResponse | np.ndarray":
    """Read a user response file.

    Formats:

    * ``.csv`` / ``.txt``: comma-separated numbers, one row per output band. If the first row
      starts with ``wavelength`` (or ``nm``), the rest of that row is the wavelength grid (nm) and a
      :class:`SpectralResponse` is returned; otherwise the plain ``(bands_out, L)`` matrix is
      returned, one column per cube band. Lines starting with ``#`` are comments.
    * ``.npy``: a ``(bands_out, L)`` matrix (one column per cube band).
    * ``.npz``: ``matrix`` and optionally ``wavelengths`` (then a SpectralResponse).

    Raises:
        DataFormatError: missing, unreadable or ragged file.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFormatError(f"response file {p} does not exist; give a .csv, .npy or .npz file (bands x wavelengths)")
    suffix = p.suffix.lower()
    wavelengths = None
    try:
        if suffix == ".npy":
            matrix = np.load(p, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                if "matrix" not in z:
                    raise DataFormatError(f"{p}: an .npz response needs a 'matrix' array (and optionally 'wavelengths')")
                matrix = z["matrix"]
                wavelengths = z["wavelengths"] if "wavelengths" in z else None
        elif suffix in (".csv", ".txt"):
            lines = [ln.strip() for ln in p.read_text().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
            if lines and lines[0].split(",")[0].strip().lower() in ("wavelength", "wavelengths", "nm"):
                wavelengths = np.array([float(v) for v in lines[0].split(",")[1:]])
                lines = lines[1:]
            rows = [[float(v) for v in ln.split(",")] for ln in lines]
            if not rows or len({len(r) for r in rows}) != 1:
                raise DataFormatError(f"{p}: rows have different lengths or no data; give one row per output band")
            matrix = np.array(rows)
        else:
            raise DataFormatError(f"{p}: unknown response format {suffix!r}; use .csv, .npy or .npz")
    except DataFormatError:
        raise
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{p}: cannot read the response matrix ({exc}); give numbers, bands x wavelengths") from None
    matrix = np.atleast_2d(np.asarray(matrix, dtype=np.float64))
    if wavelengths is None:
        return check_response_matrix(matrix, name=str(p))
    names = tuple(names) if names is not None else tuple(f"R{i + 1}" for i in range(matrix.shape[0]))
    return SpectralResponse(matrix, wavelengths, names, source=str(p.name))


def resolve_response(
    response: "str | os.PathLike | SpectralResponse | ArrayLike", bands: int, wavelengths: ArrayLike | None = None,
) -> np.ndarray:
    """Any response description -> the normalised ``(bands_out, bands)`` matrix for a cube.

    ``response`` is a built-in name, a file path, a :class:`SpectralResponse` (needs
    ``wavelengths``, the cube's band centres in nm) or a ready ``(bands_out, bands)`` matrix.
    """
    if isinstance(response, str) and response.strip().lower().replace("_", "-") in builtin_responses():
        response = builtin_response(response)
    elif isinstance(response, (str, os.PathLike)):
        if not Path(response).is_file():
            raise DataFormatError(
                f"response {str(response)!r} is neither a built-in ({', '.join(builtin_responses())}) nor a file; "
                "give one of those or a .csv/.npy/.npz file (bands x wavelengths)"
            )
        response = load_response(response)
    if isinstance(response, SpectralResponse):
        if wavelengths is None:
            raise ValueRangeError(
                f"the response '{response.source}' is defined over wavelengths; pass wavelengths=... (the cube's "
                f"{bands} band centres in nm) to sample it"
            )
        centres = np.asarray(wavelengths, dtype=np.float64).ravel()
        if centres.size != bands:
            raise ShapeError(f"{centres.size} band centres given for a cube with {bands} bands; give one per band")
        return response.at(centres)
    return check_response_matrix(response, bands)


def spectral_degrade(cube: ArrayLike, response, wavelengths: ArrayLike | None = None):
    """Project a cube through a spectral response: ``(L, H, W)`` or ``(N, L, H, W)`` -> ``(B, H, W)`` / ``(N, B, H, W)``.

    ``out_b = sum_l R~[b, l] cube_l`` with rows of ``R~`` summing to 1 (module docstring).

    Args:
        cube: numpy or torch, any real dtype; returned as the same kind (float).
        response: built-in name (``"wv3-pan"``, ``"rgb"``), file path, :class:`SpectralResponse`
            (with ``wavelengths``) or a ``(B, L)`` matrix.
        wavelengths: ``(L,)`` band centres of the cube in nm (needed for curves on a grid).

    Raises:
        ShapeError: cube not 3-D/4-D, or response columns != L.
        ValueRangeError: NaN/inf in the cube, or an invalid response (see :func:`check_response_matrix`).
    """
    if cube.ndim not in (3, 4):
        raise ShapeError(f"cube must be (L, H, W) or (N, L, H, W); got shape {tuple(cube.shape)}")
    check_finite(cube, "cube")
    bands = cube.shape[-3]
    r = resolve_response(response, bands, wavelengths)
    x = to_numpy(cube)
    out = np.einsum("bl,...lhw->...bhw", r, x, optimize=True)
    return restore(out, cube)
