"""Registry of fusion networks (timm-style): ``register``, ``create``, ``list_models``, ``save``, ``load``.

Architectures register a factory ``factory(bands=8, **options) -> FusionModel``
together with a base :class:`~pansharpen.models.cards.ModelCard` template. Bundled
weights live in ``models/weights/<name>.safetensors`` with the card in the metadata.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import DataFormatError, ModelError
from ..io.atomic import atomic_path
from .cards import CARD_METADATA_KEY, FORMAT_VERSION, ModelCard

WEIGHTS_DIR = Path(__file__).with_name("weights")
#: What ``pansharpen fuse`` uses when given no model, weights or method (see :func:`default_choices`).
DEFAULTS_FILE = WEIGHTS_DIR / "defaults.json"


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
    return sorted(_REGISTRY)


def describe(name: str) -> str:
    return _entry(name).description


def product_options(name: str) -> tuple[str, ...]:
    """The product facts (:data:`PRODUCT_OPTIONS`) that architecture ``name`` takes when created."""
    return _entry(name).product_options


def bundled_weights() -> dict[str, Path]:
    """Names of bundled weight files (``lgpconv-net-wv3`` ...) -> path."""
    return {p.stem: p for p in sorted(WEIGHTS_DIR.glob("*.safetensors"))}


def default_choices(bands: int) -> list[dict[str, Any]]:
    """The default candidates for ``bands``-band data, best first, from ``models/weights/defaults.json``.

    Each entry has ``"model"`` (a bundled network name) or ``"method"`` (a classical method) and
    ``"why"`` (the measurement that decided it). Entries for ``bands`` come first, then those for
    ``"any"``. The caller takes the first that applies to the product (a network only for its
    card's sensors and ratio), so the file is the one place that decides the default.
    """
    try:
        entries = json.loads(DEFAULTS_FILE.read_text())["defaults"]
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"{DEFAULTS_FILE} is missing or unreadable ({exc}); reinstall pansharpen") from None
    exact = [e for e in entries if e.get("bands") == bands]
    return exact + [e for e in entries if e.get("bands") == "any"]


def _entry(name: str) -> _Entry:
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


def read_card(path: "str | os.PathLike") -> ModelCard:
    """The card stored in a safetensors file written by :func:`save`."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except FileNotFoundError:
        raise DataFormatError(f"weights file {path} does not exist") from None
    except Exception as exc:  # safetensors raises its own error types
        raise DataFormatError(f"{path} is not a readable safetensors file ({exc}); was it truncated?") from None
    if CARD_METADATA_KEY not in meta:
        raise DataFormatError(
            f"{path} has no pansharpen model card; convert authors' checkpoints with `pansharpen import-weights`"
        )
    return ModelCard.from_json(meta[CARD_METADATA_KEY])


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
