"""For the operator: the admin's actions (``admin``) and sign-in (``admin_auth``), health
(``health``), the queue's figures for the pages (``metrics``) and for Prometheus (``prometheus``,
with the run counters of ``run_totals``) and the workspace clean-up (``cleanup``).
"""

from src.jobs.ops import admin, admin_auth, cleanup, health, metrics, prometheus, run_totals
from src.jobs.ops.health import report, web_state

__all__ = [
    "admin",
    "admin_auth",
    "cleanup",
    "health",
    "metrics",
    "prometheus",
    "report",
    "run_totals",
    "web_state",
]
