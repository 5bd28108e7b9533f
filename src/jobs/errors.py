"""The queue side's errors. Each is a :class:`~src.core.errors.UserError`: its message is written
for the person at the page (or, for a job's, for the run's log), so a page catches ``UserError``
once and shows the text."""

from __future__ import annotations

from src.core.errors import UserError


class QueueError(UserError):
    """A queue operation was refused; the message says why."""


class StartRefused(QueueError):
    """A new run cannot be queued (already active, the queue full, the visitor's runs held)."""


class JobAccessError(QueueError):
    """The job does not exist or belongs to another workspace."""


class AdminError(QueueError):
    """An admin action cannot be done; the message says why."""


class ViewRefused(UserError):
    """No index can be queued for the file now; the message says why and when it can."""


class PieceFailed(UserError):
    """A piece of a step failed: the run fails with the piece's own message (tool, file, error)."""


class WorkflowFailed(UserError):
    """Raised in a run's job so that RQ records a failed run as a failed job, with the workflow's error."""
