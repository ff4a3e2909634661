"""Registry of fusion networks (timm-style): ``register``, ``create``, ``list_models``, ``save``, ``load``.

Architectures register a factory ``factory(bands=8, **options) -> FusionModel``
together with a base :class:`~pansharpen.models.cards.ModelCard` template; the architecture
modules (:data:`ARCHITECTURE_MODULES`) are imported, and so registered, on the registry's first
use (:func:`list_models`, :func:`create`, :func:`load`, ...), not by ``import pansharpen.models``,
which stays free of torch. Bundled weights live in ``models/weights/<name>.safetensors`` with the
card in the metadata (:mod:`pansharpen.models.catalogue`, re-exported here).
"""
from __future__ import annotations

import importlib
import json
import os
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import ModelError
from ..io.atomic import atomic_path
from .cards import CARD_METADATA_KEY, FORMAT_VERSION, ModelCard
from .catalogue import DEFAULTS_FILE, WEIGHTS_DIR, bundled_weights, default_choices, read_card  # noqa: F401

#: the modules that register architectures, imported on the registry's first use (:func:`_ensure_registered`)
ARCHITECTURE_MODULES = ("ada3dnet", "comparison", "detailnet", "lgpnet", "lightnet")

@dataclass
class _Entry:
    name: str
    factory: Callable[..., nn.Module]
    card: ModelCard
    description: str
    product_options: tuple[str, ...] = ()


#: facts of a product that a factory may take as constructor options (``register(product_options=...)``)
PRODUCT_OPTIONS = ("ratio", "mtf_gains")

_REGISTRY: dict[str, _Entry] = {}
_registered = False
_REGISTERING = threading.RLock()


def _ensure_registered() -> None:
    """Import every architecture module once (each registers itself with :func:`register`). Marked
    done only after the imports, under a lock, so a second thread never sees a partial registry."""
    global _registered
    if _registered:
        return
    with _REGISTERING:
        if not _registered:
            for name in ARCHITECTURE_MODULES:  # importlib: the modules import this one (register)
                importlib.import_module(f"{__package__}.{name}")
            _registered = True


def register(name: str, *, paper: str, description: str = "", product_options: tuple[str, ...] = (),
             **card_fields: Any):
    """Decorator registering ``factory(bands=8, **options)`` under ``name``.

    ``product_options``: which of :data:`PRODUCT_OPTIONS` the factory takes from the product it is
    built for (``ratio``: the PAN/MS ratio; ``mtf_gains``: the MS bands' MTF gains at Nyquist), so
    that a fresh network is built for the user's product (``pansharpen adapt``).
    """
    unknown = set(product_options) - set(PRODUCT_OPTIONS)
    if unknown:
        raise ModelError(f"{name}: unknown product options {sorted(unknown)}; known: {PRODUCT_OPTIONS}")

    def wrap(factory: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        if name in _REGISTRY:
            raise ModelError(f"model name {name!r} registered twice")
        _REGISTRY[name] = _Entry(name, factory, ModelCard(arch=name, paper=paper, **card_fields), description,
                                 tuple(product_options))
        return factory

    return wrap


def list_models() -> list[str]:
    """Registered architecture names, sorted."""
    _ensure_registered()
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    return _entry(name).description


def product_options(name: str) -> tuple[str, ...]:
    """The product facts (:data:`PRODUCT_OPTIONS`) that architecture ``name`` takes when created."""
    return _entry(name).product_options


def _entry(name: str) -> _Entry:
    _ensure_registered()
    if name not in _REGISTRY:
        raise ModelError(f"unknown model {name!r}; registered: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def create(name: str, bands: int = 8, **options: Any) -> nn.Module:
    """Build a registered architecture with random weights.

    ``bands`` is the MS/HS band count; ``options`` select variants (see each model's
    docstring). The returned module has ``forward(ms, pan, lms=None)`` and a ``card``.
    """
    entry = _entry(name)
    if not isinstance(bands, int) or bands < 1:
        raise ModelError(f"bands must be a positive integer; got {bands!r}")
    try:
        model = entry.factory(bands=bands, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        raise ModelError(f"{name}: unknown option ({exc}); the options are the model's constructor arguments "
                         f"(see `pansharpen models` or docs/models.md)") from None
    except ValueError as exc:
        raise ModelError(f"{name}: bad option value: {exc}") from None
    card = replace(entry.card, bands=bands, options=dict(options), params=count_parameters(model))
    for attr in ("global_pooling", "guide_bands", "ratio"):
        value = getattr(model, attr, None)
        if value is not None and not callable(value):
            setattr(card, attr, value)
    model.card = card
    return model


#: card fields measured on the model (costly: a FLOP count and a gradient probe), filled on demand
MEASURED_FIELDS = ("receptive_field", "macs_per_pixel")


def complete_card(model: nn.Module) -> ModelCard:
    """Fill the measured card fields (receptive field, MACs per pixel) if they are still unset.

    ``create`` leaves them at 0 because measuring takes seconds; ``save``, scene fusion and
    ``pansharpen models --card`` call this. Returns the card.
    """
    card = model.card
    for attr in MEASURED_FIELDS:
        if getattr(card, attr):
            continue
        value = getattr(model, attr, None)
        if callable(value):
            value = value()
        if value is not None:
            setattr(card, attr, value)
    return card


def save(model: nn.Module, path: "str | os.PathLike", card: ModelCard | None = None) -> Path:
    """Write ``model``'s weights and card to a safetensors file (atomically: temp file + rename)."""
    if card is None:
        if getattr(model, "card", None) is None:
            raise ModelError("the model has no card; create it with pansharpen.models.create or pass card=")
        card = complete_card(model)
    if getattr(model, "folded", False):
        raise ModelError("save the unfolded model: a folded model's weights do not load into its architecture")
    card = replace(card, params=count_parameters(model))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path, overwrite=True) as tmp:
        save_file(tensors, str(tmp), metadata={CARD_METADATA_KEY: card.to_json(), "pansharpen.format": FORMAT_VERSION})
    return path


def load(path_or_name: "str | os.PathLike", map_location: str = "cpu") -> nn.Module:
    """Load a model from one of our safetensors files, or a bundled model by name (``lgpconv-net-wv3``)."""
    bundled = bundled_weights()
    key = str(path_or_name)
    path = bundled[key] if key in bundled else Path(path_or_name)
    if not path.exists():
        raise ModelError(
            f"{key!r} is neither a weights file nor a bundled model; bundled: {', '.join(bundled) or 'none'}"
        )
    card = read_card(path)
    model = create(card.arch, bands=card.bands, **card.options)
    state = load_file(str(path), device=map_location)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit architecture {card.arch} with {card.bands} bands: {exc}") from None
    model.card = replace(card, params=count_parameters(model))
    model.eval()
    return model


def card_json(model: nn.Module) -> str:
    return json.dumps(json.loads(model.card.to_json()), indent=2)
