"""The package version (one place; read by the CLI, file provenance and model cards)."""
__version__ = "0.1.0"
