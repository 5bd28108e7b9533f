"""For the operator: the admin's actions (``admin``) and sign-in (``admin_auth``), health
(``health``), the figures for Prometheus (``prometheus``, from ``src/jobs/telemetry``) and the
workspace clean-up (``cleanup``).

Import the module you need (``from src.jobs.ops import health``): this face imports none of them,
so ``python -m src.jobs.ops.health`` and its siblings run their module once, not twice.
"""
