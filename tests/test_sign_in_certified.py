"""Sign-in mode with a second real provider: panva's oidc-provider (npm, OpenID Certified), run by
Node from tests/tools/oidc-provider.mjs at its defaults (one client and two people set, nothing
else: it refuses ``prompt=select_account``, which Streamlit asks for unless told otherwise), and
Chromium through the real redirect flow and the provider's own login form.

At its defaults the provider signs two people in, each to their own workspaces, and a workspace
link of one opened by the other is refused; the app asks for no prompt. Every way a sign-in can
fail is said in the browser with what the administrator should check: a prompt the provider
does not support, a wrong client secret, a provider that is down (before the sign-in, and while
it completes). An unknown client and a redirect URI not registered the provider refuses on its
own page, never coming back: the start-up check names the redirect URI to register and tells
that the provider refused the client. A discovery URL that is no discovery document stops the
start (exit code 64); a provider that is down is a warning, the container starts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from playwright.sync_api import Page, Route, expect

from src.core.errors import SettingsError
from src.core.settings import load_settings
from src.core.settings.check import EXIT_BAD_CONFIG
from src.ui.text import unlinked
from src.web import auth_config, sign_in_errors
from tests.browser_support import AppServer, free_port, shot
from tests.conftest import REPO, wait_for
from tests.test_sign_in import sign_in_env

SCRIPT = REPO / "tests" / "tools" / "oidc-provider.mjs"
#: The client the provider knows (sign_in_env's id and secret).
CLIENT_ID, CLIENT_SECRET = "openms-test", "client-secret-for-tests"
PEOPLE = {
    "alice": {"email": "alice@lab.example.org", "email_verified": True, "name": "Alice Analyst"},
    "bob": {"email": "bob@lab.example.org", "email_verified": True, "name": "Bob Biologist"},
}


class CertifiedProvider:
    """``node tests/tools/oidc-provider.mjs``: the provider on 127.0.0.1, its client's redirect URI
    the app's ``PUBLIC_URL/oauth2callback``."""

    def __init__(self, folder: Path, app_port: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        people = folder / "people.json"
        people.write_text(json.dumps(PEOPLE))
        self.log_path = folder / "oidc-provider.log"
        self._log = self.log_path.open("w")
        callback = f"http://127.0.0.1:{app_port}/oauth2callback"
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(self.port), CLIENT_ID, CLIENT_SECRET, callback, str(people)],
            stdout=self._log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for(lambda: "listening" in self.log_text(), 30, interval=0.2, what="oidc-provider to listen")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self._log.close()


@pytest.fixture
def certified(tmp_path) -> Iterator:
    """Start the provider for an app on ``app_port``; stopped after the test."""
    started: list[CertifiedProvider] = []

    def start(app_port: int) -> CertifiedProvider:
        started.append(CertifiedProvider(tmp_path, app_port))
        return started[-1]

    yield start
    for provider in started:
        provider.stop()


@pytest.fixture
def app(settings, redis_url, tmp_path) -> Iterator:
    """Start the app in sign-in mode on ``port`` against ``provider``; stopped after the test."""
    started: list[AppServer] = []

    def start(provider_url: str, port: int, **extra: str) -> AppServer:
        env = sign_in_env(settings, redis_url, provider_url, port, **extra)
        started.append(AppServer(env, tmp_path / f"streamlit-{len(started)}.log", port=port))
        return started[-1]

    yield start
    for server in started:
        server.stop()
    for server in started:
        assert "Traceback" not in server.log_text()  # Streamlit's own failure logs come as one line


def start_up_check(settings, redis_url: str, provider_url: str, port: int, **extra: str):
    """``python -m src.core.settings --check``, as entrypoint.sh runs it, with these settings."""
    env = {**os.environ, **sign_in_env(settings, redis_url, provider_url, port, **extra)}
    return subprocess.run(
        [sys.executable, "-m", "src.core.settings", "--check"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def press_sign_in(page: Page, server: AppServer, path: str = "") -> None:
    page.goto(f"{server.url}/{path}")
    page.get_by_role("button", name="Sign in").click(timeout=90_000)


def at_the_provider(page: Page, login: str) -> None:
    """The provider's own development form: sign in as ``login``, then allow this client."""
    page.get_by_placeholder("Enter any login").fill(login)
    page.get_by_placeholder("and password").fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def sign_in(page: Page, server: AppServer, login: str, path: str = "") -> str:
    """Sign in as ``login``; return the workspace id the app opened."""
    press_sign_in(page, server, path)
    at_the_provider(page, login)
    expect(page.get_by_text(re.compile("^Signed in as"))).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(r"workspace=[0-9a-f]{32}"))
    return re.search(r"workspace=([0-9a-f]{32})", page.url).group(1)


def failure_shown(page: Page, said: str, check: str) -> None:
    """The sign-in page says the sign-in failed, what went wrong and what the administrator checks."""
    expect(page.get_by_text("Sign-in failed", exact=False)).to_be_visible(timeout=60_000)
    expect(page.get_by_text(unlinked(said), exact=False)).to_be_visible()
    expect(page.get_by_text(re.compile(f"For the administrator: .*{re.escape(check)}"))).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()  # and one may try again


@pytest.mark.slow
def test_a_certified_provider_at_its_defaults_signs_two_people_in(app, certified, new_page, request):
    port = free_port()
    provider = certified(port)
    server = app(provider.url, port)
    alice = new_page()
    asked: list[str] = []
    alice.on("request", lambda r: asked.append(r.url) if r.url.startswith(f"{provider.url}/auth?") else None)
    alice_ws = sign_in(alice, server, "alice")
    query = parse_qs(urlsplit(asked[0]).query, keep_blank_values=True)
    assert "prompt" not in query, asked[0]  # OIDC_PROMPT unset: no prompt asked for
    assert query["scope"] == ["openid email profile"]
    shot(alice, "alice-signed-in", request)

    bob = new_page()
    bob_ws = sign_in(bob, server, "bob")
    assert bob_ws != alice_ws
    bob.goto(f"{server.url}/?workspace={alice_ws}")
    expect(bob.get_by_text("That workspace link is not one of your workspaces")).to_be_visible(timeout=60_000)
    expect(bob).to_have_url(re.compile(rf"workspace=(?!{alice_ws})[0-9a-f]{{32}}"))
    assert alice_ws not in bob.content()
    shot(bob, "foreign-link-refused", request)
    assert "error" not in provider.log_text()


@pytest.mark.slow
def test_a_prompt_the_provider_refuses_is_said_on_the_page(app, certified, new_page, request):
    port = free_port()
    provider = certified(port)
    server = app(provider.url, port, OIDC_PROMPT="select_account")
    page = new_page()
    press_sign_in(page, server)
    failure_shown(
        page,
        "the identity provider said: invalid_request (unsupported prompt value requested).",
        "Check OIDC_PROMPT",
    )
    assert "authorization.error invalid_request unsupported prompt value requested" in provider.log_text()
    shot(page, "unsupported-prompt", request)
    page.reload()  # the message stays a while; it is no part of the address
    expect(page.get_by_text("Sign-in failed", exact=False)).to_be_visible(timeout=60_000)
    assert "error" not in page.url

    # A link that carries an error of someone else's making (no sign-in of this browser's) shows nothing.
    other = new_page()
    forged = "error=access_denied&error_description=Call+the+help+desk+at+example.org&state=x"
    other.goto(f"{server.url}/oauth2callback?{forged}")
    expect(other.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
    expect(other.get_by_text("Sign-in failed", exact=False)).to_have_count(0)
    expect(other.get_by_text("help desk", exact=False)).to_have_count(0)


@pytest.mark.slow
def test_a_wrong_client_secret_is_said_on_the_page(app, certified, new_page, request):
    port = free_port()
    provider = certified(port)
    server = app(provider.url, port, OIDC_CLIENT_SECRET="not-the-secret-the-provider-has")
    page = new_page()
    press_sign_in(page, server)
    at_the_provider(page, "alice")
    failure_shown(
        page,
        "the identity provider did not complete it: invalid_client (client authentication failed).",
        "check OIDC_CLIENT_ID and OIDC_CLIENT_SECRET",
    )
    shot(page, "wrong-secret", request)


@pytest.mark.slow
def test_a_provider_that_is_down_is_said_on_the_page(app, new_page, request, settings, redis_url):
    port = free_port()
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    checked = start_up_check(settings, redis_url, down, port)
    assert checked.returncode == 0, checked.stderr  # the container starts, and says what is wrong
    assert "WARNING: the identity provider could not be asked" in checked.stderr
    server = app(down, port)
    page = new_page()
    press_sign_in(page, server)
    failure_shown(page, "the identity provider could not be reached:", "check that the provider is up")
    expect(page.get_by_text(re.compile("Connection refused|All connection attempts failed"))).to_be_visible()
    shot(page, "provider-down", request)


@pytest.mark.slow
def test_a_provider_that_goes_down_during_the_sign_in_is_said_on_the_page(app, certified, new_page, request):
    port = free_port()
    provider = certified(port)
    server = app(provider.url, port)
    page = new_page()

    def provider_stops_before_sending_back(route: Route) -> None:
        """The consent's answer, taken up to the redirect back to the app (with a code); then the
        provider stops, and the browser goes back to the app."""
        if route.request.method != "POST" or "prompt=consent" not in (route.request.post_data or ""):
            route.continue_()
            return
        resume = route.fetch(max_redirects=0).headers["location"]  # the provider's own next step
        back = page.context.request.get(urljoin(provider.url, resume), max_redirects=0).headers["location"]
        assert "/oauth2callback?code=" in back
        provider.stop()
        route.fulfill(status=303, headers={"location": back})

    page.route(re.compile(rf"{re.escape(provider.url)}/interaction/.*"), provider_stops_before_sending_back)
    press_sign_in(page, server)
    at_the_provider(page, "alice")
    failure_shown(page, "the identity provider could not be reached:", "check that the provider is up")
    shot(page, "provider-down-at-callback", request)


@pytest.mark.slow
def test_an_unknown_client_is_refused_on_the_providers_page_and_by_the_check(
    app, certified, new_page, request, settings, redis_url
):
    port = free_port()
    provider = certified(port)
    checked = start_up_check(settings, redis_url, provider.url, port, OIDC_CLIENT_ID="nobody-knows-me")
    assert checked.returncode == 0, checked.stderr
    assert (
        "WARNING: the identity provider refused this server's client credentials (invalid_client"
        in checked.stderr
    )
    server = app(provider.url, port, OIDC_CLIENT_ID="nobody-knows-me")
    page = new_page()
    press_sign_in(page, server)
    expect(page.get_by_text("oops! something went wrong")).to_be_visible()  # the provider's own page
    expect(page.get_by_text("client is invalid")).to_be_visible()
    shot(page, "unknown-client", request)


@pytest.mark.slow
def test_a_redirect_uri_not_registered_is_refused_on_the_providers_page_and_named_by_the_check(
    app, certified, new_page, request, settings, redis_url
):
    port = free_port()
    provider = certified(port)  # it knows http://127.0.0.1:<port>/oauth2callback
    public_url = f"http://localhost:{port}"  # the app names another address of itself
    checked = start_up_check(settings, redis_url, provider.url, port, PUBLIC_URL=public_url)
    assert checked.returncode == 0, checked.stderr
    assert f"must have {public_url}/oauth2callback registered as a redirect URI" in checked.stderr
    assert f"the identity provider {provider.url} answers and accepts client '{CLIENT_ID}'" in checked.stderr
    server = app(provider.url, port, PUBLIC_URL=public_url)
    page = new_page()
    press_sign_in(page, server)
    expect(page.get_by_text("oops! something went wrong")).to_be_visible()
    expect(
        page.get_by_text("redirect_uri did not match any of the client's registered redirect_uris")
    ).to_be_visible()
    shot(page, "redirect-uri-not-registered", request)


@pytest.mark.slow
def test_a_discovery_url_that_is_no_discovery_document_stops_the_start(certified, settings, redis_url):
    port = free_port()
    provider = certified(port)
    jwks = f"{provider.url}/jwks"  # JSON, but no discovery document
    checked = start_up_check(settings, redis_url, provider.url, port, OIDC_METADATA_URL=jwks)
    assert checked.returncode == EXIT_BAD_CONFIG
    assert "is not an OpenID Connect discovery document: it has no issuer" in checked.stderr
    nothing = f"{provider.url}/no-such-path"
    missing = start_up_check(settings, redis_url, provider.url, port, OIDC_METADATA_URL=nothing)
    assert missing.returncode == EXIT_BAD_CONFIG
    assert "answered HTTP 404" in missing.stderr


def _sign_in_settings(settings, **extra: str):
    return load_settings(
        env=sign_in_env(settings, "redis://127.0.0.1:1", "http://127.0.0.1:1", 8501, **extra)
    )


def test_the_auth_section_asks_for_no_prompt_unless_one_is_set(settings):
    assert auth_config.secrets(settings) is None  # not in sign-in mode: the secrets files alone
    section = auth_config.secrets(_sign_in_settings(settings))["auth"]
    assert section["client_kwargs"] == {"scope": "openid email profile", "prompt": ""}
    assert section["redirect_uri"] == "http://127.0.0.1:8501/oauth2callback"
    chosen = auth_config.section(_sign_in_settings(settings, OIDC_PROMPT="login"))
    assert chosen["client_kwargs"]["prompt"] == "login"
    with pytest.raises(SettingsError, match="OIDC_PROMPT must be one of empty, none, login"):
        _sign_in_settings(settings, OIDC_PROMPT="select_account login")


def test_an_empty_prompt_is_taken_out_of_the_request():
    asked = "https://id.example.org/auth?response_type=code&prompt=&scope=openid+email&state=s%2F1"
    assert sign_in_errors.without_empty_prompt(asked) == (
        "https://id.example.org/auth?response_type=code&scope=openid+email&state=s%2F1"
    )
    chosen = "https://id.example.org/auth?response_type=code&prompt=login"
    assert sign_in_errors.without_empty_prompt(chosen) == chosen


def test_a_failure_is_shown_only_from_this_servers_recent_cookie(settings):
    mine = _sign_in_settings(settings)
    failure = sign_in_errors.SignInError(sign_in_errors.PROVIDER, "invalid_request", "unsupported prompt")
    value = sign_in_errors.encode(mine, failure, now=1_000.0)
    name = sign_in_errors.ERROR_COOKIE
    assert sign_in_errors.shown(mine, {name: value}, now=1_010.0) == failure
    assert sign_in_errors.shown(mine, {name: value}, now=1_000.0 + sign_in_errors.ERROR_SECONDS + 1) is None
    payload, _, signature = value.partition(".")
    assert sign_in_errors.shown(mine, {name: payload[:-2] + "x" + payload[-1] + "." + signature}) is None
    assert (
        sign_in_errors.shown(_sign_in_settings(settings), {name: value}, now=1_010.0) is None
    )  # other secret
    assert sign_in_errors.shown(mine, {name: "not-a-value"}) is None
    assert sign_in_errors.shown(mine, {}) is None
