"""``pansharpen models`` and ``pansharpen import-weights``."""
from __future__ import annotations

from pathlib import Path

import typer

from ..errors import OutputExistsError
from .app import app


@app.command("models")
def models_command(
    card: str = typer.Option("", "--card", help="Print the model card of this registered or bundled model."),
) -> None:
    """List the registered networks; '*' marks names with bundled weights."""
    from ..models import registry  # network side: imported by the command, not by `pansharpen --help`

    bundled = registry.bundled_weights()
    if card:
        if card in bundled:
            typer.echo(registry.read_card(bundled[card]).to_markdown())
        else:
            typer.echo(registry.complete_card(registry.create(card)).to_markdown())
        return
    with_weights = {registry.read_card(p).arch for p in bundled.values()}
    for name in registry.list_models():
        mark = "*" if name in with_weights else " "
        typer.echo(f"{mark} {name:<22} {registry.describe(name)}")
    for name, path in bundled.items():
        typer.echo(f"  {name:<22} bundled weights ({registry.read_card(path).arch})")


@app.command("import-weights")
def import_weights_command(
    name: str = typer.Argument(..., help="Importer name, e.g. lightnet (an unknown name prints the list)."),
    checkpoint: Path = typer.Argument(..., help="The authors' .pth checkpoint."),
    out: Path = typer.Argument(..., help="Output .safetensors file."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace OUT if it exists."),
) -> None:
    """Convert an authors' released checkpoint into a pansharpen safetensors file."""
    from ..models import registry  # network side: imported by the command, not by `pansharpen --help`
    from ..models.checkpoints import import_checkpoint  # network side

    if out.exists() and not overwrite:
        raise OutputExistsError(f"{out} exists; pass --overwrite to replace it")
    model = import_checkpoint(name, checkpoint)
    registry.save(model, out)
    typer.echo(f"wrote {out} ({model.card.arch}, {model.card.bands} bands, {model.card.params:,} parameters)")
