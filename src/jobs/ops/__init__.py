"""For the operator: the admin's actions (``admin``) and sign-in (``admin_auth``), health
(``health``), the queue's figures (``metrics``) and the workspace clean-up (``cleanup``).
"""

from src.jobs.ops import admin, admin_auth, cleanup, health, metrics
from src.jobs.ops.health import report, web_state

__all__ = [
    "admin",
    "admin_auth",
    "cleanup",
    "health",
    "metrics",
    "report",
    "web_state",
]
