"""E-mail abuse, closed (issue 29, items 7 and 8): simultaneous Confirm presses compare at most
CODE_TRIES codes (counted in Redis before comparing online, under a file lock locally), the
confirmation codes one visitor may have mailed per hour are bounded, and the stop link reaches mail
programs as a plain List-Unsubscribe header. A real redis-server and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import re
import threading
import time
from collections import Counter

import pytest
import redis

from src.core import notify
from src.core.errors import AddressError
from src.core.notify import subscription
from src.core.run import RunState, RunStatus
from src.core.settings import load_settings
from tests.conftest import wait_for
from tests.queue_support import online_env
from tests.test_notify import Mailbox, code_in

PRESSES = 24


class RawMailbox(Mailbox):
    """A Mailbox that also keeps each message's bytes as they arrived."""

    def __init__(self) -> None:
        self.raw: list[bytes] = []
        super().__init__()

    async def handle_DATA(self, server, session, envelope):  # the name is the interface's
        self.raw.append(envelope.original_content or envelope.content)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def mailbox():
    box = RawMailbox()
    yield box
    box.stop()


def mail_env(settings, port: int, **extra: str) -> dict[str, str]:
    return {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "false",
        "PUBLIC_URL": "https://openms.example.org",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_STARTTLS": "false",
        "SMTP_FROM": "openms@example.org",
        **extra,
    }


def ask_for_code(settings, workspace, mailbox: Mailbox, address: str = "someone@example.org") -> str:
    seen = len(mailbox.messages)
    subscription.ask(settings, workspace, address, visitor="198.51.100.4")
    wait_for(lambda: len(mailbox.messages) > seen, 10, what="the confirmation mail")
    return code_in(mailbox.messages[-1][1])


def press_confirm_at_once(settings, workspace, codes: list[str]) -> list[str]:
    """Every code entered at the same moment (one thread each, as many browser tabs would), through
    the function the Run page calls; each press's message ("" if it confirmed)."""
    results: list[str] = []
    barrier = threading.Barrier(len(codes))

    def press(code: str) -> None:
        barrier.wait()
        try:
            subscription.confirm(settings, workspace, code)
            results.append("")
        except AddressError as err:
            results.append(str(err))

    threads = [threading.Thread(target=press, args=(code,)) for code in codes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return results


def kind(result: str) -> str:
    """A press whose code was compared, or one refused unchecked (or the unexpected text itself)."""
    if "not the code that was sent" in result:
        return "compared"
    return "unchecked" if "can no longer be used" in result else result


def kinds(results: list[str]) -> Counter:
    return Counter(kind(r) for r in results)


@pytest.mark.parametrize("mode", ["online", "local"])
def test_24_simultaneous_confirm_presses_compare_at_most_the_limit(mode, settings, redis_url, mailbox):
    env = mail_env(settings, mailbox.port)
    if mode == "online":
        env = {**env, **online_env(settings, redis_url)}
    configured = load_settings(env=env)
    workspace = configured.workspaces_dir / f"confirm-{mode}"
    workspace.mkdir()
    code = ask_for_code(configured, workspace, mailbox)
    wrong = [f"{(int(code) + n) % 10**6:06d}" for n in range(1, PRESSES + 1)]

    seen = kinds(press_confirm_at_once(configured, workspace, wrong))
    assert seen == {"compared": subscription.CODE_TRIES, "unchecked": PRESSES - subscription.CODE_TRIES}

    with pytest.raises(AddressError, match="can no longer be used: it was tried 5 times. Send a new one"):
        subscription.confirm(configured, workspace, code)  # the right code, after the limit: refused
    assert subscription.confirmed_address(workspace) == ("", "")

    fresh = ask_for_code(configured, workspace, mailbox)  # a new code: five tries again
    subscription.confirm(configured, workspace, fresh)
    assert subscription.confirmed_address(workspace)[0] == "someone@example.org"


def test_the_tries_at_a_code_live_as_long_as_the_code(settings, redis_url, mailbox):
    online = load_settings(env={**mail_env(settings, mailbox.port), **online_env(settings, redis_url)})
    workspace = online.workspaces_dir / "ttl"
    workspace.mkdir()
    code = ask_for_code(online, workspace, mailbox)
    with pytest.raises(AddressError, match="4 tries left"):
        subscription.confirm(online, workspace, f"{(int(code) + 1) % 10**6:06d}")
    connection = redis.Redis.from_url(redis_url)
    (key,) = connection.keys("openms:notify:code-tries:*")
    assert code.encode() not in key and workspace.name.encode() not in key
    ttl = connection.ttl(key)
    assert 60 * online.notify.confirm_minutes - 5 < ttl <= 60 * online.notify.confirm_minutes + 1


@pytest.mark.parametrize("mode", ["online", "local"])
def test_codes_per_client_and_hour_are_bounded_across_fresh_workspaces(mode, settings, redis_url, mailbox):
    env = mail_env(settings, mailbox.port, CODE_MAILS_PER_CLIENT_PER_HOUR="2")
    if mode == "online":
        env = {**env, **online_env(settings, redis_url)}
    configured = load_settings(env=env)
    refusals = []
    for n in range(3):  # a fresh workspace and a fresh address each time, from one visitor
        workspace = configured.workspaces_dir / f"fresh{n}"
        workspace.mkdir()
        try:  # what the Run page calls with its visitor, and shows the refusal of
            subscription.ask(configured, workspace, f"victim{n}@example.org", visitor="198.51.100.4")
        except AddressError as err:
            refusals.append(str(err))
    assert refusals == [
        "No code was sent: 2 confirmation codes were already mailed for your network (or your sign-in) "
        "within the last hour, the most this server sends; try again in an hour."
    ]
    wait_for(lambda: len(mailbox.messages) == 2, 10, what="two codes")
    assert [to for to, _ in mailbox.messages] == [["victim0@example.org"], ["victim1@example.org"]]
    assert subscription.read(configured.workspaces_dir / "fresh2").email == ""  # nothing kept either

    other = configured.workspaces_dir / "other"  # another visitor is not affected
    other.mkdir()
    subscription.ask(configured, other, "victim2@example.org", visitor="203.0.113.77")
    wait_for(lambda: len(mailbox.messages) == 3, 10, what="the other visitor's code")


def test_the_stop_link_reaches_mail_programs_as_a_plain_list_unsubscribe_header(settings, mailbox):
    configured = load_settings(env=mail_env(settings, mailbox.port))
    workspace = configured.workspaces_dir / "0123456789abcdef0123456789abcdef"
    workspace.mkdir()
    subscription.confirm(configured, workspace, ask_for_code(configured, workspace, mailbox))
    status = RunStatus(state=RunState.FAILED, started_at=time.time() - 5, ended_at=time.time(), error="x")
    notes: list[str] = []
    notify.announce(configured, "TOPP Workflow", workspace, status, notes.append)
    assert notes == ["E-mail notification sent to someone@example.org."]
    wait_for(lambda: len(mailbox.raw) == 2, 10, what="the mail of the run")

    _, token = subscription.confirmed_address(workspace)
    link = subscription.stop_url(configured, workspace, token)
    assert len(f"List-Unsubscribe: <{link}>") > 78  # longer than the email package's default fold
    headers = mailbox.raw[1].split(b"\r\n\r\n", 1)[0].decode("ascii")
    lines = headers.split("\r\n")
    assert f"List-Unsubscribe: <{link}>" in lines  # one line, exactly the link
    assert "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in lines
    assert not re.search(r"=\?utf-8\?", headers, re.IGNORECASE)
