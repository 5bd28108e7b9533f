"""Sign out ends the sign-in on the server too (sign-in mode): a copy of the sign-in cookie taken
before signs in no more, while signing in again, and the person's other sign-ins, go on. Checked
with the real provider of tests/test_sign_in.py and Chromium through the real redirect flow."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from streamlit.web.server.starlette import starlette_server_config

from src.web import sign_outs
from tests.browser_support import AppServer, free_port, shot
from tests.test_sign_in import PEOPLE, provider, sign_in, sign_in_env  # noqa: F401 - provider: a fixture

ALICE = {"iss": "https://idp.example.org", "sub": "alice-0001", "nonce": "n-1", "iat": 1_000}


def test_a_sign_out_ends_that_sign_in_only(settings):
    assert not sign_outs.ended(settings, ALICE)
    assert sign_outs.end(settings, ALICE, now=1_000.0)
    assert sign_outs.ended(settings, ALICE)
    assert not sign_outs.ended(settings, {**ALICE, "nonce": "n-2", "iat": 1_060})  # her next sign-in
    assert not sign_outs.ended(settings, {**ALICE, "sub": "bob-0002"})
    folder = settings.workspaces_dir / sign_outs.FOLDER
    assert folder.stat().st_mode & 0o077 == 0  # the tools' uid cannot list them
    assert "alice" not in " ".join(p.name + p.read_text() for p in folder.iterdir())
    # Claims that cannot tell one sign-in from the next are not recorded: that would end every later one.
    assert not sign_outs.end(settings, {"iss": "https://idp.example.org", "sub": "alice-0001"})
    # A record goes once the cookie it ends would have expired anyway.
    later = 1_000.0 + sign_outs.KEPT_SECONDS + 1
    sign_outs.end(settings, {**ALICE, "nonce": "n-3"}, now=later)
    assert not sign_outs.ended(settings, ALICE)


def test_a_record_is_kept_as_long_as_streamlits_sign_in_cookie_lasts():
    assert sign_outs.KEPT_SECONDS >= starlette_server_config.AUTH_COOKIE_MAX_AGE_SECONDS


@pytest.mark.slow
def test_a_copied_sign_in_cookie_signs_in_no_more_after_sign_out(
    settings,
    redis_url,
    provider,  # noqa: F811 - the fixture imported above
    new_page,
    tmp_path,
    request,
):
    port = free_port()
    env = sign_in_env(settings, redis_url, provider, port)
    server = AppServer(env, tmp_path / "streamlit.log", port=port)
    try:
        alice = new_page()
        sign_in(alice, server, "alice-0001")
        copy = new_page()  # another browser, holding a copy of her cookies
        copy.context.add_cookies(alice.context.cookies())
        copy.goto(server.url)
        signed_in = f"Signed in as {PEOPLE['alice-0001']['name']}"
        expect(copy.get_by_text(signed_in)).to_be_visible(timeout=90_000)

        alice.get_by_role("button", name="Sign out").click()
        expect(alice.get_by_role("heading", name="End Session")).to_be_visible()  # at the provider
        alice.get_by_role("button", name="End session").click()
        expect(alice.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)

        copy.reload()
        expect(copy.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
        expect(copy.get_by_text(signed_in)).to_have_count(0)
        shot(copy, "copied-cookie-after-sign-out", request)

        sign_in(alice, server, "alice-0001")  # a new sign-in is not affected
        assert "Traceback" not in server.log_text()
    finally:
        server.stop()
