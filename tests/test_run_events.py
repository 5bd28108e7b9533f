"""Logs an operator can search: one line per run event (queued, started, ended with outcome and
duration) naming the job, never a workspace, a file or a client address; with LOG_FORMAT=json each
line of a worker is one JSON object. A real worker runs real runs; its stdout is read as written."""

from __future__ import annotations

import io
import json

import pytest

from src import runs
from src.core import process_log
from src.core.settings import load_settings
from src.jobs import run_events
from src.workflows.metabolomics import MetabolomicsWorkflow
from src.workflows.metabolomics.demo_data import generate_runs
from tests.conftest import wait_for
from tests.queue_support import online_env

pytestmark = pytest.mark.slow


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def events(entries: list[dict], job_id: str) -> dict[str, dict]:
    return {e["event"]: e for e in entries if e.get("job_id") == job_id and "event" in e}


def test_each_run_event_is_one_json_line_without_visitor_data(settings, workers, redis_url, nz_files):
    online = load_settings(env=online_env(settings, redis_url, LOG_FORMAT="json"))
    web_log = io.StringIO()
    process_log.configure(online.log_format, "openms", stream=web_log)  # as the web server does
    good = MetabolomicsWorkflow(online.workspaces_dir / "events-good", online)
    generate_runs(good.files.input_dir("mzML-files"), 1, n_spectra=60)
    bad = MetabolomicsWorkflow(online.workspaces_dir / "events-bad", online)
    (bad.files.input_dir("mzML-files") / "secret-sample-name.mzML").write_bytes(
        nz_files[0].read_bytes()[:100_000]
    )
    workers.start(online, redis_url, 1, LOG_FORMAT="json")

    good_id = runs.start(good, visitor="198.51.100.23").job_id
    bad_id = runs.start(bad, visitor="198.51.100.23").job_id
    for workflow in (good, bad):
        wait_for(lambda w=workflow: w.state.read().is_final, 120, interval=0.2, what="the run to end")
    wait_for(lambda: len(events(json_lines(workers.logs()), bad_id)) == 2, 10, what="the ended event")

    queued = events(json_lines(web_log.getvalue()), good_id)["queued"]
    assert queued["priority"] == "normal" and queued["level"] == "INFO" and queued["logger"] == "openms.runs"
    worker_lines = [line for line in workers.logs().splitlines() if line.strip()]
    entries = json_lines(workers.logs())
    assert entries and len(entries) >= 0.9 * len(worker_lines)  # the worker's own lines are JSON
    ran = events(entries, good_id)
    assert ran["started"]["attempt"] == 1 and ran["started"]["worker"]
    assert ran["ended"]["outcome"] == "finished" and ran["ended"]["seconds"] > 0
    assert events(entries, bad_id)["ended"]["outcome"] == "failed"

    event_text = json.dumps([e for e in entries + json_lines(web_log.getvalue()) if "event" in e])
    for visitor_data in ("events-good", "events-bad", "secret-sample-name", "198.51.100.23", ".mzML"):
        assert visitor_data not in event_text, visitor_data


def test_text_lines_by_default(settings):
    text = io.StringIO()
    process_log.configure(settings.log_format, "openms", stream=text)
    run_events.ended("0123abcd", "cancelled", 2.5)
    line = text.getvalue().strip()
    assert settings.log_format == "text"
    assert line.endswith("openms.runs INFO run 0123abcd ended cancelled after 2.5 s"), line
