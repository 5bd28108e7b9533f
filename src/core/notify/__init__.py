"""Announcing a run's end: the operator's webhook and the visitor's e-mail (``announcer``), the
address its owner confirmed (``subscription``), the two e-mails (``mail``) and how many may be sent
(``quota``).
"""

from src.core.notify import subscription
from src.core.notify.announcer import announce, payload, workspace_link
from src.core.notify.quota import QuotaUnavailable

__all__ = [
    "QuotaUnavailable",
    "announce",
    "payload",
    "subscription",
    "workspace_link",
]
