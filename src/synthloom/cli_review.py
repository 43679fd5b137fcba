"""``synthloom review DIR``: the human review page of a run (see :mod:`synthloom.review`)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from synthloom.errors import UserInputError

console = Console(stderr=True)


def _default_reviewer() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "reviewer"


def review(
    run_dir: Annotated[Path, typer.Argument(help="Output directory of a generate run.",
                                            metavar="DIR")],
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 8765,
    reviewer: Annotated[str | None, typer.Option(
        help="Name recorded with each action (default: your login name; the page can "
             "change it).")] = None,
) -> None:
    """Serve a local web page to browse, correct and rate a run's records (127.0.0.1 only;
    open the URL it prints, token included). Actions are appended to DIR/reviews.jsonl;
    `synthloom export DIR --with-reviews` applies them."""
    from synthloom.review.server import serve

    try:
        serve(run_dir, port, reviewer or _default_reviewer(), say=typer.echo)
    except UserInputError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        pass
