"""``python -m src.workflows``: the installed workflows; ``--check``: may the app offer what the
settings name? (the appliance's entrypoint runs it before anything starts)."""

from __future__ import annotations

import sys

import click

from src.core.settings import SettingsError, load_settings
from src.core.workflow import workflow_ref
from src.workflows import RegistryError, installed, offered


@click.command("workflows")
@click.option("--check", is_flag=True, help="Only check that the offered workflows can be loaded.")
def main(check: bool) -> None:
    """List the installed workflows: id, name, class; '*' marks those the app offers."""
    try:
        offers = {cls.id for cls in offered(load_settings())}
        every = installed()
    except (RegistryError, SettingsError) as err:
        click.echo(f"workflows: {err}", err=True)
        sys.exit(2)
    if check:
        click.echo(f"workflows: offering {', '.join(cls.id for cls in every if cls.id in offers)}")
        return
    for cls in every:
        click.echo(f"{'*' if cls.id in offers else ' '} {cls.id:24} {cls.name:28} {workflow_ref(cls)}")


if __name__ == "__main__":
    main()
