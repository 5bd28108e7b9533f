"""``python -m src.core.viewer MZML FOLDER``: build a file's view index (local mode's process)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from src.core import process_log
from src.core.errors import UserError
from src.core.viewer.building import build_recorded


@click.command()
@click.argument("mzml", type=click.Path(path_type=Path))
@click.argument("folder", type=click.Path(path_type=Path))
def main(mzml: Path, folder: Path) -> None:
    """Build the raw data viewer's index of MZML in FOLDER; a failure is written there too."""
    process_log.configure("text")
    try:
        meta = build_recorded(mzml, folder)
    except UserError as err:
        click.echo(str(err), err=True)
        sys.exit(1)
    click.echo(
        f"indexed {mzml.name} in {meta.get('seconds', 0)} s" if meta else "another build was under way"
    )


if __name__ == "__main__":
    main()
