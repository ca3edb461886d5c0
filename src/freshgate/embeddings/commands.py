"""CLI: `freshgate reembed` — embed every section again with the configured model, deliberately."""

from __future__ import annotations

import typer
from rich.console import Console

err = Console(stderr=True)


def reembed(yes: bool = typer.Option(False, "--yes", help="Do it (drops every stored vector first).")):
    """Drop the stored vectors and embed every section with the configured model (after changing model_path)."""
    from freshgate.cli import runtime
    from freshgate.embeddings.embedder import EmbedderUnavailable
    from freshgate.embeddings.fingerprint import forget_vectors

    if not yes:
        err.print("this drops every stored vector and embeds all sections again; run with --yes")
        raise typer.Exit(3)
    with runtime() as rt:
        engine = rt.extras.get("lookup")
        if engine is None:
            err.print("[red]error:[/red] lookup is not available")
            raise typer.Exit(1)
        try:
            engine.embedder.load() if hasattr(engine.embedder, "load") else None
        except EmbedderUnavailable as exc:
            err.print(f"[red]error:[/red] {exc}", highlight=False)
            raise typer.Exit(1) from None
        fp = getattr(engine.embedder, "fingerprint", None) or "unknown"
        n = forget_vectors(rt.engine, fp, getattr(engine.embedder, "name", ""))
        engine.warm_up()
        err.print(f"re-embedded: {n} old vectors dropped, {len(engine.index)} sections indexed ({engine.index_status()})")


def register(app: typer.Typer) -> None:
    """Add `reembed` to the CLI."""
    app.command("reembed")(reembed)
