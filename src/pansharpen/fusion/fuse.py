"""High-level fusion API: ``pansharpen.fuse(pan, ms, out, model=..., method=..., weights=...)``.

Chooses the sensor (option > product metadata > model card), builds the fuser (a bundled
or user network, or a classical method), checks that the model fits the product's bands,
and runs :func:`~pansharpen.fusion.scene.fuse_scene`.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..errors import ModelError, SensorError
from ..io.grid import PairGrid
from ..io.metadata import detect_sensor
from ..io.sources import RasterSource
from ..models import registry
from ..protocol.sensors import Sensor, generic_sensor, get_sensor
from .fusers import ClassicalFuser, NetworkFuser
from .scene import fuse_scene


def resolve_sensor(sensor: "str | Sensor | None", ms_path, pan_path, nbands: int, card=None) -> Sensor | None:
    """The sensor of a product: explicit > IMD metadata beside the files > the model card's first sensor."""
    if sensor is not None:
        return get_sensor(sensor, nbands=nbands)

    for path in (ms_path, pan_path):
        name = detect_sensor(path) if path else None
        if name:
            try:
                return get_sensor(name, nbands=nbands)
            except SensorError as exc:
                warnings.warn(f"metadata names sensor {name}, which does not fit the data: {exc}", stacklevel=2)
    if card is not None and card.sensors:
        try:
            return get_sensor(card.sensors[0], nbands=nbands)
        except SensorError:
            return None
    return None


#: Bundled architectures in order of preference as the default: LGPConv-Net scores best on the
#: held-out WV3 strip (Q2n 0.9435 vs 0.9405, docs/benchmark.md) and, traced for the CPU, fuses a
#: scene within about 20 % of LightNet's time (docs/fusion.md). Others follow, lightest first.
DEFAULT_ARCH_PREFERENCE = ("lgpconv-net", "lightnet")


def default_model_for(sensor: Sensor | None, nbands: int) -> str:
    """Name of the bundled weights for ``sensor`` (:data:`DEFAULT_ARCH_PREFERENCE`, then the
    lightest network), or a ModelError."""
    candidates = []
    for name, path in registry.bundled_weights().items():
        card = registry.read_card(path)
        if card.bands == nbands and (sensor is None or sensor.name in card.sensors):
            rank = DEFAULT_ARCH_PREFERENCE.index(card.arch) if card.arch in DEFAULT_ARCH_PREFERENCE else len(DEFAULT_ARCH_PREFERENCE)
            candidates.append((rank, card.macs_per_pixel or 0.0, name))
    if not candidates:
        which = sensor.name if sensor else f"{nbands}-band data"
        raise ModelError(
            f"no bundled model for {which}; pass --weights FILE, or a classical method such as --method gsa"
        )
    return min(candidates)[2]


def check_card_for_product(card, sensor: Sensor | None, nbands: int) -> None:
    """Refuse a model (its card) trained for other bands than a product's: band count, or the band set
    of another sensor (same bands under another sensor name: a warning). Compare
    :func:`pansharpen.datasets.training_sets.check_model_for_set` (a model against training samples)."""
    if card.bands != nbands:
        raise ModelError(f"model {card.name} fuses {card.bands} bands but the MS has {nbands}")
    if sensor is None or not card.sensors or sensor.name in card.sensors:
        return
    same_bands = any(get_sensor(s).bands == sensor.bands for s in card.sensors if _known(s))
    if not same_bands:
        raise ModelError(
            f"model {card.name} was trained for {', '.join(card.sensors)}, whose bands differ from {sensor.name}'s "
            f"({', '.join(sensor.bands)}); use a model for {sensor.name} or a classical method (--method)"
        )
    warnings.warn(
        f"model {card.name} was trained on {', '.join(card.sensors)}; {sensor.name} has the same bands", stacklevel=2
    )


def _known(name: str) -> bool:
    try:
        get_sensor(name)
        return True
    except SensorError:
        return False


def make_fuser(
    *, model=None, method: str | None = None, weights=None, sensor: Sensor | None = None, nbands: int, ratio: int = 4,
    subtile: int | None = 512,
):
    """A fuser from exactly one of ``model`` (bundled name or nn.Module), ``weights`` (file) or ``method``."""
    chosen = [x is not None for x in (model, method, weights)]
    if sum(chosen) > 1:
        raise ModelError("give only one of model, weights or method")
    if method is not None:
        return ClassicalFuser(method, sensor or generic_sensor((0.3,) * nbands), ratio)
    if weights is not None:
        net = registry.load(weights)
    elif isinstance(model, str):
        if model not in registry.bundled_weights() and model in registry.list_models():
            raise ModelError(
                f"{model} has no bundled weights; pass --weights FILE trained with `pansharpen train {model}`"
            )
        net = registry.load(model)  # a bundled name or a file; clear error otherwise
    elif model is not None:
        net = model
    else:
        net = registry.load(default_model_for(sensor, nbands))
    check_card_for_product(net.card, sensor, nbands)
    if net.card.ratio != ratio:
        raise ModelError(f"model {net.card.name} works at ratio {net.card.ratio}, the product has ratio {ratio}")
    return NetworkFuser(net, subtile=subtile)


def fuse(
    pan: "str | os.PathLike",
    ms: "str | os.PathLike",
    out: "str | os.PathLike",
    *,
    model=None,
    method: str | None = None,
    weights=None,
    sensor: "str | Sensor | None" = None,
    tile: int = 512,
    dtype: str | None = None,
    cog: bool = False,
    overwrite: bool = False,
    workers: int | None = None,
    scheduler: str | None = None,
    quiet: bool = True,
    subtile: int | None = 512,
) -> Path:
    """Fuse a PAN + MS product into a GeoTIFF on the PAN grid (see :mod:`pansharpen.fusion.scene`).

    Exactly one of ``model`` (bundled name, e.g. ``"lgpconv-net-wv3"``, or an ``nn.Module`` with a card),
    ``weights`` (a safetensors file) or ``method`` (a classical method name) may be given; with none, the
    bundled model for the product's sensor is used. Values are clipped to the sensor range.
    ``subtile``: networks run on sub-tiles of this many PAN pixels inside each tile
    (:class:`~pansharpen.fusion.fusers.NetworkFuser`; None: one call per tile).
    """

    pan_src, ms_src = RasterSource(pan), RasterSource(ms)
    grid = PairGrid.from_infos(pan_src.info, ms_src.info)
    nbands = ms_src.info.count
    card = None
    if weights is not None or isinstance(model, str):
        from ..models import registry

        path = weights if weights is not None else registry.bundled_weights().get(model)
        card = registry.read_card(path) if path is not None else None
    sensor_obj = resolve_sensor(sensor, ms, pan, nbands, card)
    fuser = make_fuser(model=model, method=method, weights=weights, sensor=sensor_obj, nbands=nbands, ratio=grid.ratio,
                       subtile=subtile)
    max_value = sensor_obj.max_value if sensor_obj is not None else None
    return fuse_scene(
        pan_src, ms_src, out, fuser, tile=tile, dtype=dtype, max_value=max_value, cog=cog,
        overwrite=overwrite, workers=workers, scheduler=scheduler, quiet=quiet,
    )
