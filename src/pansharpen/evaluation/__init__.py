"""Evaluating fused images: the ``evaluate`` command's reduced- and full-resolution runs over
files and sets, with per-image tables and reports.

Owns: :mod:`.evaluate`. Quality indices themselves live in :mod:`pansharpen.metrics`;
reading image files lives in :mod:`pansharpen.io`.

May import: every layer below it (``io`` ... ``training``).
"""
