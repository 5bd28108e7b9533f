"""Notifications when a run ends: a real HTTP receiver and a real SMTP server (aiosmtpd), both
started by the test; with them down the run still ends normally and its log says so."""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse

import pytest
import redis
from aiosmtpd.controller import Controller

from src.core.errors import AddressError
from src.core.notify import quota as mail_quota
from src.core.notify import subscription
from src.core.run import RunState, ended_with, read_log
from src.core.settings import load_settings
from src.core.workflow import LocalRunner
from src.workflows.metabolomics import MetabolomicsWorkflow
from tests.browser_support import AppServer
from tests.conftest import put_inputs, set_noise_threshold, wait_for
from tests.queue_support import free_port, online_env

pytestmark = pytest.mark.slow


class Receiver:
    """A webhook receiver on a free local port, recording every POSTed JSON body."""

    def __init__(self) -> None:
        calls = self.calls = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # the name is the interface's
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
    async def handle_DATA(self, server, session, envelope):  # the name is the interface's
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 Message accepted for delivery"

    def __init__(self, hostname: str = "127.0.0.1") -> None:
        self.messages = []
        self.controller = Controller(self, hostname=hostname, port=free_port())
        self.controller.start()
        self.port = self.controller.port

    def stop(self) -> None:
        self.controller.stop()


@pytest.fixture
def receivers():
    receiver, mailbox = Receiver(), Mailbox()
    yield receiver, mailbox
    receiver.stop()
    mailbox.stop()


def confirm(settings, workspace, address: str, mailbox: Mailbox) -> None:
    """What a visitor does on the Run page: ask for a code, read it in the mail, enter it."""
    seen = len(mailbox.messages)
    subscription.ask(settings, workspace, address)
    wait_for(lambda: len(mailbox.messages) > seen, 10, what="the confirmation mail")
    subscription.confirm(settings, workspace, code_in(mailbox.messages[-1][1]))


def code_in(message) -> str:
    return re.search(r"^[ \t]+(\d{6})\s*$", message.get_content(), re.MULTILINE).group(1)


def notifying_settings(tmp_path, shared_cache, webhook: str, smtp_port: int, **extra: str):
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
            **extra,
        }
    )


def test_a_finished_and_a_failed_run_each_send_one_webhook_call_and_one_mail(
    receivers, tmp_path, shared_cache, nz_files
):
    receiver, mailbox = receivers
    settings = notifying_settings(tmp_path, shared_cache, receiver.url, mailbox.port)

    done = MetabolomicsWorkflow(settings.workspaces_dir / "done", settings)
    put_inputs(done, nz_files[:1])
    set_noise_threshold(done)
    confirm(settings, done.workspace, "scientist@example.org", mailbox)
    runner = LocalRunner(done)  # a real run process, as in local mode
    runner.start()
    wait_for(lambda: not runner.is_running(), 180, interval=0.2, what="the run to end")
    assert ended_with(done.logger.log_dir) is RunState.FINISHED

    failed = MetabolomicsWorkflow(settings.workspaces_dir / "failed", settings)
    (failed.files.input_dir("mzML-files") / "broken.mzML").write_bytes(nz_files[0].read_bytes()[:100_000])
    confirm(settings, failed.workspace, "other@example.org", mailbox)
    assert failed.run() is RunState.FAILED

    assert [call["json"]["state"] for call in receiver.calls] == ["finished", "failed"]
    first, second = (call["json"] for call in receiver.calls)
    assert receiver.calls[0]["path"] == "/hooks/openms"
    assert first["workspace_link"] == "https://openms.example.org/?workspace=done"
    assert first["duration_seconds"] > 0 and first["workflow"] == MetabolomicsWorkflow.name
    assert "FeatureFinderMetabo failed" in second["error"]

    wait_for(lambda: len(mailbox.messages) == 4, 10, what="two confirmations and two mails of runs")
    (to_done, mail_done), (to_failed, mail_failed) = mailbox.messages[1], mailbox.messages[3]
    assert to_done == ["scientist@example.org"] and to_failed == ["other@example.org"]
    assert mail_done["Subject"] == f"{MetabolomicsWorkflow.name}: Completed"
    assert "https://openms.example.org/?workspace=done" in mail_done.get_content()
    assert mail_failed["Subject"] == f"{MetabolomicsWorkflow.name}: Failed"
    stop_link = mail_done["List-Unsubscribe"].strip("<>")
    assert stop_link in mail_done.get_content() and stop_link.startswith(
        "https://openms.example.org/notify/stop?"
    )
    minimal = read_log(done.logger.log_dir, "minimal")
    assert "Notification sent to the webhook." in minimal
    assert "E-mail notification sent to scientist@example.org." in minimal
    assert receiver.url not in read_log(done.logger.log_dir, "all")  # the URL may hold a token


def test_with_the_receivers_down_the_run_ends_normally_and_its_log_says_so(tmp_path, shared_cache, nz_files):
    mailbox = Mailbox()
    hook = f"http://127.0.0.1:{free_port()}/hook"
    settings = notifying_settings(tmp_path, shared_cache, hook, mailbox.port)
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "down", settings)
    put_inputs(workflow, nz_files[:1])
    set_noise_threshold(workflow)
    confirm(settings, workflow.workspace, "scientist@example.org", mailbox)
    mailbox.stop()  # the mail server goes away after the address was confirmed
    assert workflow.run() is RunState.FINISHED
    status = workflow.state.read()
    assert status.state == "finished" and status.error == ""
    minimal = read_log(workflow.logger.log_dir, "minimal")
    assert "Notification to the webhook failed (connection refused); the run is not affected." in minimal
    assert "E-mail notification to scientist@example.org failed (connection refused)" in minimal
    assert minimal.rstrip().endswith("=== WORKFLOW FINISHED ===")


def test_no_notification_without_configuration_and_addresses_are_checked(settings, nz_files):
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / "quiet", settings)
    put_inputs(workflow, nz_files[:1])
    set_noise_threshold(workflow)
    assert workflow.run() is RunState.FINISHED
    assert not re.search(r"Notification |E-mail notification", read_log(workflow.logger.log_dir, "all"))
    for bad in ("not an address", "a@b", "x@example.org\nBcc: victim@example.org", "<a@example.org>"):
        with pytest.raises(AddressError, match="does not look like an e-mail address"):
            subscription.check_address(bad)
    assert subscription.check_address(" a@example.org ") == "a@example.org"


def broken_workflow(settings, name: str, nz_files) -> MetabolomicsWorkflow:
    """A workspace whose runs fail within a second or two (a truncated mzML file)."""
    workflow = MetabolomicsWorkflow(settings.workspaces_dir / name, settings)
    (workflow.files.input_dir("mzML-files") / "broken.mzML").write_bytes(nz_files[0].read_bytes()[:100_000])
    return workflow


def mails_to(mailbox: Mailbox, address: str) -> list:
    return [message for to, message in mailbox.messages if to == [address]]


def test_an_address_gets_only_its_code_until_confirmed_then_no_more_mails_than_the_limit(
    receivers, tmp_path, shared_cache, nz_files
):
    _, mailbox = receivers
    settings = notifying_settings(tmp_path, shared_cache, "", mailbox.port, MAILS_PER_ADDRESS_PER_HOUR="4")
    workflow = broken_workflow(settings, "pending", nz_files)
    subscription.ask(settings, workflow.workspace, "someone@example.org")
    wait_for(lambda: len(mailbox.messages) == 1, 10, what="the confirmation mail")
    code_mail = mailbox.messages[0][1]
    body = code_mail.get_content()
    assert code_mail["Subject"] == "OpenMS Workflow Server: confirm your e-mail address"
    assert "https://openms.example.org" in body and "ignore this e-mail" in body
    assert "pending" not in body and "workspace=" not in body  # no key to the workspace before confirming

    assert workflow.run() is RunState.FAILED  # a run that ends while the address is not confirmed
    assert len(mailbox.messages) == 1
    assert "E-mail notification" not in read_log(workflow.logger.log_dir, "all")
    code = code_in(code_mail)
    with pytest.raises(AddressError, match="not the code that was sent .4 tries left"):
        subscription.confirm(settings, workflow.workspace, f"{(int(code) + 1) % 10**6:06d}")
    subscription.confirm(settings, workflow.workspace, code)

    for _ in range(10):  # ten runs that end within a minute
        assert workflow.run() is RunState.FAILED
    assert len(mails_to(mailbox, "someone@example.org")) == 4  # the code and three runs: the limit
    minimal = read_log(workflow.logger.log_dir, "minimal")
    assert "not sent: this address already got 4 e-mails from this server within the last hour" in minimal


def test_the_limits_are_shared_in_redis_and_hold_when_sends_race(redis_url, settings, tmp_path):
    env = online_env(settings, redis_url, SMTP_HOST="127.0.0.1", SMTP_FROM="openms@example.org")
    env.update(PUBLIC_URL="https://openms.example.org", MAILS_PER_ADDRESS_PER_HOUR="3")
    online = load_settings(env={**env, "MAILS_PER_WORKSPACE_PER_HOUR": "2"})
    workspaces = [online.workspaces_dir / f"w{n}" for n in range(3)]
    assert mail_quota.take(online, "a@example.org", workspaces[0]) == ""
    assert mail_quota.take(online, "b@example.org", workspaces[0]) == ""
    assert "this workspace already sent 2 e-mails" in mail_quota.take(online, "c@example.org", workspaces[0])

    many = load_settings(env={**env, "MAILS_PER_WORKSPACE_PER_HOUR": "100"})
    results, barrier = [], threading.Barrier(20)

    def send_one(n: int) -> None:
        barrier.wait()
        results.append(mail_quota.take(many, "victim@example.org", tmp_path / f"fresh{n}"))

    threads = [threading.Thread(target=send_one, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results.count("") == 3 and len(results) == 20  # from 20 fresh workspaces at once
    keys = redis.Redis.from_url(redis_url).keys("openms:hourly:*")
    assert keys and not any(b"example.org" in key for key in keys)  # counted by hash, not by address


def test_the_stop_link_of_a_mail_stops_the_mails(receivers, tmp_path, shared_cache, nz_files):
    _, mailbox = receivers
    settings = notifying_settings(tmp_path, shared_cache, "", mailbox.port)
    workflow = broken_workflow(settings, "stopping", nz_files)
    confirm(settings, workflow.workspace, "scientist@example.org", mailbox)
    assert workflow.run() is RunState.FAILED
    wait_for(lambda: len(mailbox.messages) == 2, 10, what="the mail of the run")
    link = urlparse(mailbox.messages[1][1]["List-Unsubscribe"].strip("<>"))
    env = {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "false",
        "PUBLIC_URL": "https://openms.example.org",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(mailbox.port),
        "SMTP_FROM": "openms@example.org",
    }
    server = AppServer(env, tmp_path / "streamlit.log")
    try:
        url = f"{server.url}{link.path}?{link.query}"
        with urllib.request.urlopen(url, timeout=10) as page:  # opening it (a mail scanner) stops nothing
            assert page.status == 200 and b'<form method="post">' in page.read()
        assert subscription.confirmed_address(workflow.workspace)[0] == "scientist@example.org"
        forged = url.replace("token=", "token=x")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(forged, data=b"", method="POST"), timeout=10)
        assert refused.value.code == 404
        one_click = urllib.request.Request(url, data=b"List-Unsubscribe=One-Click", method="POST")
        with urllib.request.urlopen(one_click, timeout=10) as page:
            assert page.status == 200 and b"no more e-mails" in page.read()
    finally:
        server.stop()
    assert subscription.confirmed_address(workflow.workspace) == ("", "")
    assert workflow.run() is RunState.FAILED
    assert len(mailbox.messages) == 2  # nothing more
