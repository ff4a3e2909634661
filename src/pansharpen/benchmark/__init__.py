"""Paper-style benchmarks: a YAML/TOML configuration of methods and test sets, training the
networks it names, scoring everything on the same images, and tables/figures.

Owns: :mod:`.config` (parsing and checking a configuration), :mod:`.runner` (running it),
:mod:`.tables` (Markdown, CSV and LaTeX tables).

May import: every layer below it (``io`` ... ``evaluation``).
"""
