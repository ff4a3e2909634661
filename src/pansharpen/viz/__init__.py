"""Figures and quick-looks (matplotlib, an optional dependency imported on use).

Owns: :mod:`.quicklook` (RGB stretches and side-by-side PNGs) and :mod:`.figures`
(comparison grids and training curves).

May import: ``io``, ``protocol``, ``metrics``.
"""
