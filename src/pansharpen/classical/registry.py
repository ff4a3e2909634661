"""Names of the classical methods (the ``--method`` values of ``pansharpen fuse``).

>>> from pansharpen.classical import fuse_classical
>>> fused = fuse_classical("gsa", ms_lr, pan, "WV3", ratio=4)   # doctest: +SKIP
"""
from __future__ import annotations

from ..errors import ModelError
from ._common import ClassicalMethod
from .component_substitution import METHODS as _CS
from .multiresolution import METHODS as _MRA

#: The registry, in the order of Vivone et al.'s benchmark tables (EXP, CS, MRA) then Brovey.
_ORDER = (
    "exp", "bt-h", "bdsd", "bdsd-pc", "gs", "gsa", "c-gsa", "pracs",
    "awlp", "mtf-glp", "mtf-glp-fs", "mtf-glp-hpm", "mtf-glp-hpm-h", "mtf-glp-cbd", "mf", "brovey",
)  # fmt: skip
_METHODS: dict[str, ClassicalMethod] = {m.name: m for m in (*_CS, *_MRA)}
assert set(_ORDER) == set(_METHODS), "registry order and method definitions disagree"


def list_methods() -> list[str]:
    """Registered method names (``exp``, ``bt-h``, ``bdsd``, ...)."""
    return list(_ORDER)


def _normalise(name: str) -> str:
    return str(name).strip().lower().replace("_", "-")


def get_method(name: str) -> ClassicalMethod:
    """The :class:`ClassicalMethod` called ``name`` (case-insensitive, ``_`` accepted for ``-``)."""
    key = _normalise(name)
    if key not in _METHODS:
        raise ModelError(f"unknown classical method {name!r}; known: {', '.join(_ORDER)} (see `pansharpen methods`)")
    return _METHODS[key]


def describe(name: str) -> str:
    """One line: the method's name in the literature and what it does."""
    return get_method(name).describe()


def fuse_classical(name: str, ms, pan, sensor=None, ratio: int = 4, **options):
    """Fuse the LR MS ``(C, h, w)`` / ``(N, C, h, w)`` and the PAN with the method ``name``.

    Inputs in digital numbers, numpy or torch; returns ``(C, H, W)`` (``H = ratio * h``) of the
    same kind. ``sensor`` (name or :class:`~pansharpen.protocol.Sensor`; ``None`` = toolbox
    defaults) gives the MTF gains. ``options`` are method specific (``block`` for BDSD,
    ``clusters`` for C-GSA, ``beta`` for PRACS, ``weights`` for Brovey, ``lms``).
    """
    return get_method(name)(ms, pan, sensor, ratio, **options)
