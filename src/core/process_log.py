"""How the server's processes write their own log lines (not a run's logs, which live in its
workspace): text for people, or one JSON object per line (``LOG_FORMAT=json``) for Loki or ELK.

Run events (``src/jobs/run_events.py``) carry their fields (event, job id, outcome, seconds) as
keys of their JSON object, so a search needs no parsing of the message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

TEXT_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
#: Fields a log call may add (``extra=``) that become keys of its JSON object.
EVENT_FIELDS = ("event", "job_id", "priority", "worker", "attempt", "outcome", "seconds")


class JsonLines(logging.Formatter):
    """A record as one line of JSON: time (UTC), level, logger, message and its event fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({name: getattr(record, name) for name in EVENT_FIELDS if hasattr(record, name)})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def handler_for(log_format: str, stream: TextIO | None = None) -> logging.Handler:
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    return handler


def configure(log_format: str, logger_name: str = "", stream: TextIO | None = None) -> None:
    """Send INFO and above of ``logger_name`` (the root: everything) to ``stream`` (stdout) in
    ``log_format``. The one logging setup of every process of the server.

    A process that owns its logging (a worker, the clean-up) configures the root; the web server,
    whose logging is Streamlit's, configures only the project's own loggers (``src``, and the run
    events' ``openms``)."""
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [handler_for(log_format, stream)]
    logger.setLevel(logging.INFO)
    if logger_name:
        logger.propagate = False  # not twice, if something configures the root as well
