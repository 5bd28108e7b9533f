"""Notifications when a run ends: a real HTTP receiver and a real SMTP server (aiosmtpd), both
started by the test; with them down the run still ends normally and its log says so."""

from __future__ import annotations

import json
import re
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from src.core import notify
from src.core.logs import Outcome, ended_with, read_log
from src.core.runner import LocalRunner
from src.core.settings import load_settings
from src.workflows.topp_workflow import TOPPWorkflow
from tests.conftest import put_inputs, set_noise_threshold, wait_for

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook receiver on a free local port, recording every POSTed JSON body."""

    def __init__(self) -> None:
        calls = self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's interface)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                calls.append({"path": self.path, "json": json.loads(body)})
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/openms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's interface)
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def __init__(self) -> None:
        self.messages = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def stop(self) -> None:
        self.controller.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def receivers():
    receiver, mailbox = Receiver(), Mailbox()
    yield receiver, mailbox
    receiver.stop()
    mailbox.stop()


def notifying_settings(tmp_path, shared_cache, webhook: str, smtp_port: int):
    root = tmp_path / "workspaces"
    root.mkdir(exist_ok=True)
    if not (root / ".cache").exists():
        (root / ".cache").symlink_to(shared_cache, target_is_directory=True)
    return load_settings(
        env={
            "WORKSPACES_DIR": str(root),
            "ONLINE_DEPLOYMENT": "false",
            "PUBLIC_URL": "https://openms.example.org",
            "NOTIFY_WEBHOOK_URL": webhook,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "SMTP_STARTTLS": "false",
            "SMTP_FROM": "openms@example.org",
        }
    )


def test_a_finished_and_a_failed_run_each_send_one_webhook_call_and_one_mail(
    receivers, tmp_path, shared_cache, nz_files
):
    receiver, mailbox = receivers
    settings = notifying_settings(tmp_path, shared_cache, receiver.url, mailbox.port)

    done = TOPPWorkflow(settings.workspaces_dir / "done", settings)
    put_inputs(done, nz_files[:1])
    set_noise_threshold(done)
    notify.save_address(done.workspace, "scientist@example.org")
    runner = LocalRunner(done)  # a real run process, as in local mode
    runner.start()
    wait_for(lambda: not runner.is_running(), 180, interval=0.2, what="the run to end")
    assert ended_with(done.logger.log_dir) is Outcome.FINISHED

    failed = TOPPWorkflow(settings.workspaces_dir / "failed", settings)
    (failed.files.input_dir("mzML-files") / "broken.mzML").write_bytes(nz_files[0].read_bytes()[:100_000])
    notify.save_address(failed.workspace, "other@example.org")
    assert failed.run() is Outcome.FAILED

    assert [call["json"]["state"] for call in receiver.calls] == ["finished", "failed"]
    first, second = (call["json"] for call in receiver.calls)
    assert receiver.calls[0]["path"] == "/hooks/openms"
    assert first["workspace_link"] == "https://openms.example.org/?workspace=done"
    assert first["duration_seconds"] > 0 and first["workflow"] == "TOPP Workflow"
    assert "FeatureFinderMetabo failed" in second["error"]

    wait_for(lambda: len(mailbox.messages) == 2, 10, what="two mails")
    (to_done, mail_done), (to_failed, mail_failed) = mailbox.messages
    assert to_done == ["scientist@example.org"] and to_failed == ["other@example.org"]
    assert mail_done["Subject"] == "TOPP Workflow: Completed"
    assert "https://openms.example.org/?workspace=done" in mail_done.get_content()
    assert mail_failed["Subject"] == "TOPP Workflow: Failed"
    minimal = read_log(done.logger.log_dir, "minimal")
    assert "Notification sent to the webhook." in minimal
    assert "E-mail notification sent to scientist@example.org." in minimal
    assert receiver.url not in read_log(done.logger.log_dir, "all")  # the URL may hold a token


def test_with_the_receivers_down_the_run_ends_normally_and_its_log_says_so(tmp_path, shared_cache, nz_files):
    settings = notifying_settings(tmp_path, shared_cache, f"http://127.0.0.1:{free_port()}/hook", free_port())
    workflow = TOPPWorkflow(settings.workspaces_dir / "down", settings)
    put_inputs(workflow, nz_files[:1])
    set_noise_threshold(workflow)
    notify.save_address(workflow.workspace, "scientist@example.org")
    assert workflow.run() is Outcome.FINISHED
    status = workflow.state.read()
    assert status.state == "finished" and status.error == ""
    minimal = read_log(workflow.logger.log_dir, "minimal")
    assert "Notification to the webhook failed (connection refused); the run is not affected." in minimal
    assert "E-mail notification to scientist@example.org failed (connection refused)" in minimal
    assert minimal.rstrip().endswith("=== WORKFLOW FINISHED ===")


def test_no_notification_without_configuration_and_addresses_are_checked(settings, nz_files):
    workflow = TOPPWorkflow(settings.workspaces_dir / "quiet", settings)
    put_inputs(workflow, nz_files[:1])
    set_noise_threshold(workflow)
    assert workflow.run() is Outcome.FINISHED
    assert not re.search(r"Notification |E-mail notification", read_log(workflow.logger.log_dir, "all"))
    with pytest.raises(notify.AddressError, match="does not look like an e-mail address"):
        notify.save_address(workflow.workspace, "not an address")
    assert notify.save_address(workflow.workspace, " a@example.org ") == "a@example.org"
    assert notify.saved_address(workflow.workspace) == "a@example.org"
    assert (
        notify.save_address(workflow.workspace, "") == "" and notify.saved_address(workflow.workspace) == ""
    )
