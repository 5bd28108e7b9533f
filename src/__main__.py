"""``python -m src``: the operator's commands in one command line, e.g. ``python -m src health``,
``python -m src settings check --shell``.

Each command is a click command of the module that does the work, and ``python -m <that module>``
(the spelling entrypoint.sh, supervisord, the docs and the tests use) runs the same command. A
command's module is imported only when that command runs or ``--help`` lists them (click's lazy
group, https://click.palletsprojects.com/en/stable/complex/#lazily-loading-subcommands): the
start-up check does not pay for the worker's imports.
"""

from __future__ import annotations

import importlib

import click

#: Command -> "module:attribute" of its click command.
COMMANDS = {
    "admin": "src.jobs.ops.admin_auth:main",
    "cleanup": "src.jobs.ops.cleanup:main",
    "health": "src.jobs.ops.health:main",
    "settings": "src.core.settings.__main__:settings",
    "worker": "src.jobs.worker.launcher:main",
    "workflows": "src.workflows.__main__:main",
}


class LazyGroup(click.Group):
    """A group whose commands are imported from COMMANDS when asked for."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name].partition(":")
        return getattr(importlib.import_module(module), attribute)


@click.group(cls=LazyGroup)
def cli() -> None:
    """The OpenMS Workflow Server's operator commands."""


if __name__ == "__main__":
    cli(prog_name="python -m src")
