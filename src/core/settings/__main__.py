"""``python -m src settings``: ``check [--shell]`` is the appliance's start-up check (entrypoint.sh
calls it); ``write-docs`` regenerates what derives from the declaration (settings.json, the README
and appliance tables, .env.example, the compose file).

``python -m src.core.settings --check [--shell] | --write-docs`` is the older spelling of the same
two commands, which entrypoint.sh, the docs and the tests still use.
"""

from __future__ import annotations

import sys

import click

from src.core.settings import check, docs
from src.core.settings.model import PROJECT_ROOT


@click.group("settings")
def settings() -> None:
    """The app's settings: the start-up check and the files written from their declaration."""


@settings.command("check")
@click.option("--shell", is_flag=True, help="Also print the checked values as shell assignments.")
def check_command(shell: bool) -> None:
    """Check the settings and the container's variables; exit 64 on an error."""
    sys.exit(check.main(shell))


@settings.command("write-docs")
def write_docs() -> None:
    """Write settings.json, the settings tables, .env.example and the compose file."""
    for written in docs.write_all(PROJECT_ROOT):
        click.echo(f"wrote {written.relative_to(PROJECT_ROOT)}")


@click.command()
@click.option("--check", "run_check", is_flag=True, help="What `settings check` does.")
@click.option("--shell", is_flag=True, help="With --check: print the values as shell assignments.")
@click.option("--write-docs", "run_write_docs", is_flag=True, help="What `settings write-docs` does.")
@click.pass_context
def main(ctx: click.Context, run_check: bool, shell: bool, run_write_docs: bool) -> None:
    """The older spelling: --check [--shell] | --write-docs."""
    if run_write_docs:
        ctx.invoke(write_docs)
    elif run_check:
        ctx.invoke(check_command, shell=shell)
    else:
        raise click.UsageError("give --check [--shell] or --write-docs")


if __name__ == "__main__":
    main()
