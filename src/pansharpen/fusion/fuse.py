"""High-level fusion API: ``pansharpen.fuse(pan, ms, out, model=..., method=..., weights=...)``.

:func:`plan_fusion` decides what runs: the sensor by the one sensor policy
(:func:`pansharpen.protocol.policy.resolve_sensor`: option > product metadata > model card),
and the fuser: the model, weights or method given, or else the default for the product's band
count read from ``models/weights/defaults.json`` (:func:`pansharpen.models.catalogue.default_choices`:
a bundled network for the sensor and band count when one exists, else the classical method that
measured best for that band count). :func:`fuse` builds the fuser, says in one line what it
used, and runs :func:`~pansharpen.fusion.scene.fuse_scene`.

The network side (:mod:`pansharpen.models.registry`, :mod:`pansharpen.fusion.network_fuser`, and
with them torch) is imported only when a network is built (:func:`_registry`, :func:`_network_fuser`);
the plan reads cards and the defaults table through :mod:`pansharpen.models.catalogue`, which needs
no torch: a classical fusion, chosen or by default, starts 1.2-1.4 s sooner.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelError, SensorError
from ..io.geotiff import WriteOptions
from ..io.grid import PairGrid
from ..io.sources import RasterSource
from ..models.catalogue import bundled_weights, default_choices, read_card
from ..protocol.consistency import require_aligned_grid
from ..protocol.policy import resolve_sensor
from ..protocol.sensors import Sensor, find_sensor, generic_sensor
from .checks import check_fuse_options
from .fusers import ClassicalFuser, resolve_device
from .scene import fuse_scene


def _registry():
    """:mod:`pansharpen.models.registry` (building and loading networks), imported on first use."""
    from ..models import registry  # network side: imports torch, which the classical path never needs

    return registry


def _network_fuser(net, *, subtile: int | None, device: str):
    """A :class:`~pansharpen.fusion.network_fuser.NetworkFuser` of ``net``, its module imported on first use."""
    from .network_fuser import NetworkFuser  # network side: imports torch, which the classical path never needs

    return NetworkFuser(net, subtile=subtile, device=device)


@dataclass(frozen=True)
class FusionPlan:
    """What :func:`fuse` runs on a product and why.

    Attributes:
        sensor: the sensor (MTF gains, bit depth) from the sensor policy; None only for a network on
            a product whose sensor nothing states (no clipping beyond the data type).
        sensor_why: where the sensor came from (``"WV03 in MS.IMD"``, ``"--sensor L8"``).
        kind: ``"model"``, ``"weights"`` or ``"method"``.
        name: the bundled model name, the weights file or the method name.
        why: why this fuser (``"--method gsa"``, ``"default for 4-band data: ..."``).
        ratio: PAN/MS ratio of the product; bands: MS band count.
    """

    sensor: Sensor | None
    sensor_why: str
    kind: str
    name: str
    why: str
    ratio: int
    bands: int

    def line(self) -> str:
        """The one line ``pansharpen fuse`` prints: what it used and why."""
        what = f"{self.kind} {Path(self.name).name if self.kind == 'weights' else self.name}"
        bands = f" ({', '.join(self.sensor.bands)})" if self.sensor is not None else ""
        name = self.sensor.name if self.sensor is not None else "unknown"
        return (f"fuse: {what} ({self.why}); sensor {name} ({self.sensor_why}); ratio {self.ratio}; "
                f"{self.bands} bands{bands}")

    @property
    def max_value(self) -> int | None:
        """Largest output value, ``2**bits - 1`` of the sensor (None: the data type's range)."""
        return self.sensor.max_value if self.sensor is not None else None


def default_choice(sensor: Sensor | None, nbands: int, ratio: int) -> tuple[str, str, str]:
    """``(kind, name, why)`` of the default fuser for ``nbands``-band data of ``sensor`` at ``ratio``.

    The candidates come from :func:`pansharpen.models.catalogue.default_choices` (one data file);
    a network applies when its weights are bundled, it fuses ``nbands`` bands at ``ratio`` and
    ``sensor`` is one of its card's sensors or has the same bands (None: any sensor); a
    classical method always applies.
    """
    bundled = bundled_weights()
    for entry in default_choices(nbands):
        if "method" in entry:
            return "method", entry["method"], f"default for {nbands}-band data: {entry.get('why', '')}".rstrip(": ")
        name = entry.get("model")
        if name not in bundled:
            continue
        card = read_card(bundled[name])
        if card.bands == nbands and card.ratio == ratio and _card_fits(card, sensor):
            return "model", name, f"default for {nbands}-band {'/'.join(card.sensors) or 'any'} data: {entry.get('why', '')}"
    raise ModelError(
        f"no default for {nbands}-band data at ratio {ratio}; pass --method (see `pansharpen methods`) or --weights FILE"
    )


def _card_fits(card, sensor: Sensor | None) -> bool:
    if sensor is None or not card.sensors or sensor.name in card.sensors:
        return True
    return any(s is not None and s.bands == sensor.bands for s in map(find_sensor, card.sensors))


def plan_fusion(
    pan, ms, *, nbands: int, ratio: int, model=None, method: str | None = None, weights=None,
    sensor: "str | Sensor | None" = None, mtf_ms=None, mtf_pan=None, bits: int | None = None,
) -> FusionPlan:
    """Decide the sensor and the fuser of a product (see the module docstring); nothing is loaded."""
    if sum(x is not None for x in (model, method, weights)) > 1:
        raise ModelError("give only one of model, weights or method")
    card = None
    if weights is not None:
        card = read_card(weights)
    elif isinstance(model, str) and model in bundled_weights():
        card = read_card(bundled_weights()[model])
    elif model is not None and not isinstance(model, str):
        card = getattr(model, "card", None)
    policy = dict(pan_path=pan, ms_path=ms, nbands=nbands, mtf_ms=mtf_ms, mtf_pan=mtf_pan, bits=bits)
    try:
        sensor_obj, sensor_why = resolve_sensor(sensor, card=card, **policy)
    except SensorError:
        # a network needs no MTF: its card names the sensor (precedence step 3), or the card's
        # normaliser gives the value range; a classical method needs the MTF, so the refusal stands
        if method is not None or sensor is not None:
            raise
        if card is None and model is None and weights is None:
            card = _default_network_card(nbands, ratio)
        if card is None:
            raise
        sensor_obj, sensor_why = _network_sensor(card, nbands, policy)
    if method is not None:
        kind, name, why = "method", method, f"--method {method}"
    elif weights is not None:
        kind, name, why = "weights", str(weights), "--weights"
    elif model is not None:
        kind, name, why = "model", model if isinstance(model, str) else getattr(card, "name", "model"), "--model"
    else:
        kind, name, why = default_choice(sensor_obj, nbands, ratio)
    return FusionPlan(sensor_obj, sensor_why, kind, name, why, ratio, nbands)


def _default_network_card(nbands: int, ratio: int):
    """The card of the first default network for ``nbands`` bands at ``ratio`` (before any method), or None."""
    bundled = bundled_weights()
    for entry in default_choices(nbands):
        if "method" in entry:
            return None
        if entry.get("model") in bundled:
            card = read_card(bundled[entry["model"]])
            if card.bands == nbands and card.ratio == ratio:
                return card
    return None


def _network_sensor(card, nbands: int, policy: dict) -> tuple[Sensor | None, str]:
    """The sensor for a network when the product does not say it: the card's, else None (networks use
    no MTF; the output is then clipped to its data type only)."""
    try:
        return resolve_sensor(None, card=card, **policy)
    except SensorError:
        return None, f"unknown: not stated by the product nor by the card of {card.name}; clipped to the data type only"


def check_card_for_product(card, sensor: Sensor | None, nbands: int) -> None:
    """Refuse a model (its card) trained for other bands than a product's: band count, or the band set
    of another sensor (same bands under another sensor name: a warning). Compare
    :func:`pansharpen.datasets.training_sets.check_model_for_set` (a model against training samples)."""
    if card.bands != nbands:
        raise ModelError(f"model {card.name} fuses {card.bands} bands but the MS has {nbands}")
    if sensor is None or not card.sensors or sensor.name in card.sensors:
        return
    if not _card_fits(card, sensor):
        raise ModelError(
            f"model {card.name} was trained for {', '.join(card.sensors)}, whose bands differ from {sensor.name}'s "
            f"({', '.join(sensor.bands)}); use a model for {sensor.name} or a classical method (--method)"
        )
    warnings.warn(
        f"model {card.name} was trained on {', '.join(card.sensors)}; {sensor.name} has the same bands", stacklevel=2
    )


def make_fuser(
    *, model=None, method: str | None = None, weights=None, sensor: Sensor | None = None, nbands: int, ratio: int = 4,
    subtile: int | None = 512, device: str = "cpu", consistent: bool = False,
):
    """A fuser from exactly one of ``model`` (bundled name or nn.Module), ``weights`` (file) or ``method``.

    With none of them, the default for ``nbands`` bands (:func:`default_choice`).
    """
    if sum(x is not None for x in (model, method, weights)) > 1:
        raise ModelError("give only one of model, weights or method")
    if model is None and method is None and weights is None:
        kind, name, _ = default_choice(sensor, nbands, ratio)
        method, model = (name, None) if kind == "method" else (None, name)
    if method is not None:
        return ClassicalFuser(method, sensor or generic_sensor((0.3,) * nbands), ratio, consistent=consistent)
    if consistent:
        raise ModelError("--consistent follows a classical method (--method NAME); a network adapted with "
                         "`pansharpen adapt` carries its own projection")
    registry = _registry()
    if weights is not None:
        net = registry.load(weights)
    elif isinstance(model, str):
        if model not in registry.bundled_weights() and model in registry.list_models():
            raise ModelError(
                f"{model} has no bundled weights; pass --weights FILE trained with `pansharpen train {model}`"
            )
        net = registry.load(model)  # a bundled name or a file; clear error otherwise
    else:
        net = model
    check_card_for_product(net.card, sensor, nbands)
    if net.card.ratio != ratio:
        raise ModelError(
            f"model {net.card.name} works at ratio {net.card.ratio}, the product has ratio {ratio}; fuse it with a "
            "classical method (--method mtf-glp-fs works at any integer ratio) or train a network at that ratio"
        )
    return _network_fuser(net, subtile=subtile, device=resolve_device(device))


def fuse(
    pan: "str | os.PathLike",
    ms: "str | os.PathLike",
    out: "str | os.PathLike",
    *,
    model=None,
    method: str | None = None,
    weights=None,
    sensor: "str | Sensor | None" = None,
    mtf_ms=None,
    mtf_pan: float | None = None,
    bits: int | None = None,
    tile: int = 512,
    dtype: str | None = None,
    cog: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = True,
    subtile: int | None = 512,
    device: str = "cpu",
    options: "WriteOptions | None" = None,
    threads_per_worker: int | None = None,
    check_range: bool = True,
    tile_threads: int | None = None,
    consistent: bool = False,
) -> Path:
    """Fuse a PAN + MS product into a GeoTIFF on the PAN grid (see :mod:`pansharpen.fusion.scene`).

    At most one of ``model`` (bundled name, e.g. ``"lgpconv-net-wv3"``, or an ``nn.Module`` with a card),
    ``weights`` (a safetensors file) or ``method`` (a classical method name) may be given; with none,
    the default for the product's band count (:func:`default_choice`). The sensor follows the sensor
    policy (``sensor`` > product metadata > model card; ``mtf_ms``/``mtf_pan``/``bits`` override its
    values or describe a sensor outside the catalogue); values are clipped to ``2**bits - 1``.
    Unless ``quiet``, prints one line saying what was used (:meth:`FusionPlan.line`).
    ``subtile``: networks run on sub-tiles of this many PAN pixels inside each tile
    (:class:`~pansharpen.fusion.network_fuser.NetworkFuser`; None: one call per tile).
    ``device``: ``cpu``, ``cuda`` or ``auto`` for networks (:func:`~pansharpen.fusion.fusers.resolve_device`;
    the same tiles and result). ``options``: how the GeoTIFF is written
    (:class:`~pansharpen.io.geotiff.WriteOptions`: codec, overviews, creation options, COG).
    ``threads_per_worker``: torch threads of each Dask worker (:func:`~pansharpen.fusion.distributed.threads_for`).
    Option values are checked before any work and the input values before fusing
    (:mod:`pansharpen.fusion.checks`; ``check_range=False`` fuses reflectance/[0, 1] inputs as they are).
    ``tile_threads``: tiles of a classical method computed at once in threads (default
    ``$PANSHARPEN_TILE_THREADS``, else the process's thread budget, :func:`~pansharpen.runtime.thread_budget`,
    up to 4; :func:`~pansharpen.fusion.scene.resolve_tile_threads`).
    ``consistent``: a classical method's result is projected onto the images that give the MS back
    through the sensor's MTF and decimation (:mod:`pansharpen.protocol.consistency`; it trusts the
    sensor's MTF model, docs/adaptation.md "The consistency projection"); needs a grid phase of zero.
    """
    device = resolve_device(device)  # refused before any work when CUDA is asked for and absent
    pan_src, ms_src = RasterSource(pan), RasterSource(ms)
    grid = PairGrid.from_infos(pan_src.info, ms_src.info)
    check_fuse_options(tile=tile, ratio=grid.ratio, workers=workers, scheduler=scheduler, dtype=dtype)
    nbands = ms_src.info.count
    plan = plan_fusion(pan, ms, nbands=nbands, ratio=grid.ratio, model=model, method=method, weights=weights,
                       sensor=sensor, mtf_ms=mtf_ms, mtf_pan=mtf_pan, bits=bits)
    chosen = {"method": plan.name} if plan.kind == "method" else (
        {"weights": weights} if plan.kind == "weights" else {"model": model if model is not None else plan.name})
    fuser = make_fuser(**chosen, sensor=plan.sensor, nbands=nbands, ratio=grid.ratio, subtile=subtile, device=device,
                       consistent=consistent)
    if getattr(fuser, "consistent", False):  # before any work: a classical --consistent or a consistent network
        require_aligned_grid(grid.phase, "--consistent" if consistent else f"{plan.name} (it ends with the consistency "
                             "projection)", "fuse without --consistent" if consistent else
                             "adapt a network on this product with --consistent off or auto")
    if not quiet:
        print(plan.line(), flush=True)
    return fuse_scene(
        pan_src, ms_src, out, fuser, tile=tile, dtype=dtype, max_value=plan.max_value, cog=cog,
        overwrite=overwrite, workers=workers, scheduler=scheduler, quiet=quiet, options=options, check_range=check_range,
        threads_per_worker=threads_per_worker, tile_threads=tile_threads,
        provenance={"sensor": plan.sensor.name if plan.sensor is not None else None,
                    **({"consistent": "projection onto reproject(F) = MS"} if consistent else {})},
        band_names=tuple(plan.sensor.bands) if plan.sensor is not None else None,
    )
