"""Training networks: the loop, its configuration, presets, losses, checkpoints and validation.

Owns: :mod:`.train` (the training loop, resumable), :mod:`.config` (``TrainConfig``, the
run's configuration, and which of its fields may differ on resume), :mod:`.presets` (the papers' recipes),
:mod:`.losses`, :mod:`.checkpointing` (random-generator states for bit-exact resume),
:mod:`.validation` (scores on a validation set), :mod:`.ddp` (torchrun data parallelism) and
:mod:`.adapt` (adapting a model to one product).

May import: ``io``, ``protocol``, ``metrics``, ``layers``, ``models``, ``classical``,
``viz``, ``datasets``.
"""
