"""The errors a person using the app can cause, under one base.

A :class:`UserError`'s message is written for the person at the keyboard and says what to do
("Upload the complete file again", "Fix it on the Configure page"). Pages catch ``UserError``
once and show its text; a run that fails with one shows its text as the run's error. Anything
else that reaches a page or ends a run is a bug, and is reported as one.

Every exception class of the engine, the workflows and the web tier is defined here (the queue
side's in ``src/jobs/errors.py``), the ones at the end too: conditions of the server or of a run,
not the person's doing, which the code that meets them turns into a message of its own.
"""

from __future__ import annotations


class UserError(Exception):
    """Something the person using the app can fix or avoid; the message says how."""


class InputError(UserError, ValueError):
    """An input file is missing or unusable."""


class StorageRefused(InputError):
    """An upload or a run is refused: the workspace's quota or the volume's free-disk guard."""


#: What a run that filled the workspaces volume says.
DISK_FULL_MESSAGE = (
    "There is no space left on the workspaces volume, so the run was stopped. Remove files you no "
    "longer need (File Upload page) or tell the administrator of this server, then start it again."
)


class DiskFull(UserError):
    """The workspaces volume ran full while a run was writing."""

    def __init__(self, detail: str = "") -> None:
        super().__init__(f"{DISK_FULL_MESSAGE} {detail}".strip())


class ParameterError(UserError, ValueError):
    """A parameter value is outside what the tool accepts; the message says what is allowed."""


class ToolNotFoundError(UserError):
    """A TOPP tool the workflow needs is not installed."""


class CommandFailed(UserError):
    """A tool or script of a run exited with an error; the message names it and quotes its error."""

    def __init__(self, tool: str, exit_code: int, error_text: str, subject: str = "") -> None:
        self.tool, self.exit_code, self.error_text = tool, exit_code, error_text.strip()
        self.subject = subject
        on = f" on {subject}" if subject else ""
        detail = f":\n{self.error_text}" if self.error_text else " (it printed no error message)."
        super().__init__(f"{tool} failed{on} with exit code {exit_code}{detail}")


class OutOfMemory(CommandFailed):
    """A tool or script of a run needed more memory than one run may use on this server."""

    def __init__(self, tool: str, exit_code: int, error_text: str, subject: str, limit: str) -> None:
        super().__init__(tool, exit_code, error_text, subject)
        on = f" on {subject}" if subject else ""
        self.args = (
            f"{tool} needed more memory than the {limit} GB one run may use on this server{on}. "
            "Start the workflow with fewer or smaller files, or ask the server's administrator to "
            "raise RUN_MEMORY_GB.",
        )


class SettingsError(UserError, ValueError):
    """A setting has a value the app cannot work with; the message says which and how to fix it."""


class WorkspaceError(UserError, ValueError):
    """A workspace id or name is not acceptable, or no new workspace may be made now."""


class AddressError(UserError, ValueError):
    """An e-mail address, code or stop request the app refuses."""


class AlreadyRunning(UserError):
    """A second run of the same workflow in the same workspace was refused."""


#: Why a start is refused while the workflow's run in this workspace is queued or running. Checked
#: before anything is written (``src/runs.py``) and again under the queue's enqueue lock, where two
#: tabs pressing Start at once meet (``src/jobs/client/enqueue.py``).
ALREADY_ACTIVE = (
    "This workflow is already queued or running in this workspace. Wait for it to finish or stop it first."
)


class RegistryError(UserError):
    """A workflow cannot be offered (unknown id, a class that is not a workflow, a clash)."""


class RunRefused(UserError):
    """A run cannot start; the message says why and what to do."""


class ChemInputError(UserError, ValueError):
    """An input of a tool page that the tools cannot use; the message says what to enter instead."""


class DamagedFile(UserError):
    """A JSON file holding a person's choices cannot be read; the message names it."""


class IndexMissing(InputError):
    """The file has no complete, current index (the page offers to build one)."""


# Not the person's doing: conditions of the server or of a run that the code which meets them turns
# into a message (or a log line) of its own.


class MailNotSent(Exception):
    """The mail server did not take the e-mail. The message says why, and what the administrator
    should check; it never holds the password. ``address_refused``: the recipient was refused."""

    def __init__(self, reason: str, address_refused: bool = False) -> None:
        super().__init__(reason)
        self.address_refused = address_refused


class QuotaUnavailable(RuntimeError):
    """The counts cannot be read (Redis down): nothing is sent rather than an unbounded number."""


class ProviderUnreachable(Exception):
    """The provider could not be asked, or had trouble answering; the message says why."""


class CountsUnavailable(RuntimeError):
    """Redis holds the counts and cannot be reached."""


class RunCancelled(RuntimeError):
    """The run was stopped by the user (or a command was not started because a sibling failed)."""
