"""What workers record while they work and pages, the admin and ``/metrics`` read: the queue's
load and its depth over the last hour (``queue_load``), the runs ended by outcome with their run times
(``run_totals``) and the recent run times that give a waiting run its estimate (``durations``).

Import the module you need (``from src.jobs.telemetry import queue_load``).
"""
