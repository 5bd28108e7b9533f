"""Sign-in mode (AUTH_MODE=oidc) with a real OpenID Connect provider (oidc-provider-mock: discovery,
its authorization form, tokens, end-session) and a real browser through the real redirect flow:
every page asks to sign in; two people each see only their own workspaces; a workspace link opened
by another person is refused, never opened; the limits count people, not addresses (both come from
one address here); the ADMIN_USERS group opens the admin details for one and not the other, and an
e-mail address in ADMIN_USERS only when the provider verified it; signing out and in again keeps
the person's workspaces. Settings that cannot work stop with a message."""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote

import httpx
import oidc_provider_mock
import pytest
from playwright.sync_api import Page, expect

from src.core.errors import SettingsError
from src.core.settings import load_settings
from src.ui import auth
from src.ui.text import unlinked
from tests.browser_support import AppServer, free_port, go_to, settle, shot, state_shown
from tests.conftest import wait_for
from tests.test_notify import Mailbox

pytestmark = pytest.mark.slow

PEOPLE = {
    "alice-0001": {"email": "alice@lab.example.org", "name": "Alice Analyst", "groups": ["lab-admins"]},
    # Bob's address is in ADMIN_USERS, but the provider did not verify it: not an administrator.
    "bob-0002": {
        "email": "bob@lab.example.org",
        "email_verified": False,
        "name": "Bob Biologist",
        "groups": ["students"],
    },
    # Carol is an administrator by her verified address alone; her name claim holds an address that
    # GFM would link after the "_", shown as text.
    "carol-0003": {
        "email": "carol@lab.example.org",
        "email_verified": True,
        "name": "Carol _www.curators.example",
    },
}
#: Administrators of the browser test: a group, an unverified address (Bob's) and a verified one.
ADMINS = "lab-admins,bob@lab.example.org,carol@lab.example.org"


@pytest.fixture(scope="module")
def provider() -> str:
    with oidc_provider_mock.run_server_in_thread() as server:
        url = f"http://localhost:{server.server_port}"
        for sub, claims in PEOPLE.items():
            assert httpx.put(f"{url}/users/{quote(sub)}", json=claims).status_code == 204
        yield url


def sign_in_env(settings, redis_url: str, provider: str, port: int, **extra: str) -> dict[str, str]:
    return {
        "WORKSPACES_DIR": str(settings.workspaces_dir),
        "ONLINE_DEPLOYMENT": "true",
        "REDIS_URL": redis_url,
        "AUTH_MODE": "oidc",
        "OIDC_METADATA_URL": f"{provider}/.well-known/openid-configuration",
        "OIDC_CLIENT_ID": "openms-test",
        "OIDC_CLIENT_SECRET": "client-secret-for-tests",
        "AUTH_COOKIE_SECRET": secrets.token_hex(32),
        "PUBLIC_URL": f"http://127.0.0.1:{port}",
        "ADMIN_USERS": "lab-admins",
        **extra,
    }


def sign_in(page: Page, server: AppServer, sub: str, path: str = "") -> str:
    """Open the app, sign in at the provider as ``sub``; return the workspace id opened."""
    page.goto(f"{server.url}/{path}")
    page.get_by_role("button", name="Sign in").click(timeout=90_000)
    page.get_by_placeholder("sub").fill(sub)
    page.get_by_role("button", name="Authorize").click()
    expect(page.get_by_text(unlinked(f"Signed in as {PEOPLE[sub]['name']}"))).to_be_visible(timeout=60_000)
    expect(page).to_have_url(re.compile(r"workspace=[0-9a-f]{32}"))  # (page.url alone is not refreshed)
    return re.search(r"workspace=([0-9a-f]{32})", page.url).group(1)


def start_example(page: Page) -> None:
    go_to(page, "File Upload")
    page.get_by_role("button", name="Load example data").click()
    expect(page.get_by_text("Example data loaded")).to_be_visible()
    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()


def workspaces_box(page: Page):
    settle(page)  # a box used during a rerun is replaced, and its list closes
    return page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").filter(has_text="My workspaces")


def my_workspace_names(page: Page) -> list[str]:
    """The names in the person's workspace list (without the id suffix and the "New" entry)."""
    workspaces_box(page).locator("input").click()
    expect(page.get_by_role("option").first).to_be_visible()
    names = page.get_by_role("option").all_inner_texts()
    page.keyboard.press("Escape")
    return [re.sub(r" · \w+$", "", n) for n in names if "New workspace" not in n]


@pytest.fixture
def mailbox():
    box = Mailbox()
    yield box
    box.stop()


def test_people_sign_in_and_see_only_their_own_workspaces(
    settings, redis_url, provider, new_page, mailbox, tmp_path, request
):
    port = free_port()
    mail = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(mailbox.port), "SMTP_STARTTLS": "false"}
    env = sign_in_env(
        settings,
        redis_url,
        provider,
        port,
        RUNNING_RUNS_PER_CLIENT="1",
        SMTP_FROM="openms@example.org",
        ADMIN_USERS=ADMINS,
        **mail,
    )
    server = AppServer(env, tmp_path / "streamlit.log", port=port)
    try:
        alice = new_page()
        alice.goto(server.url)
        expect(alice.get_by_role("button", name="Sign in")).to_be_visible(timeout=90_000)
        expect(alice.get_by_text("Sign in with your institute's account")).to_be_visible()
        assert "workspace=" not in alice.url  # no workspace before sign-in
        shot(alice, "sign-in", request)
        alice_ws = sign_in(alice, server, "alice-0001")
        start_example(alice)
        expect(state_shown(alice, "Queued")).to_be_visible()  # no worker runs

        # The run-end e-mail offers her e-mail claim; the code goes there.
        alice.get_by_text("E-mail me when a run ends").click()
        expect(alice.get_by_label("E-mail address", exact=True)).to_have_value(PEOPLE["alice-0001"]["email"])
        alice.get_by_role("button", name="Send a confirmation code").click()
        sent = unlinked(f"A code was sent to {PEOPLE['alice-0001']['email']}")
        expect(alice.get_by_text(sent)).to_be_visible(timeout=30_000)  # the page says it was sent ...
        wait_for(lambda: mailbox.messages, 10, what="the confirmation mail")  # ... and it was
        assert mailbox.messages[0][0] == [PEOPLE["alice-0001"]["email"]]

        # A second workspace of Alice: its run is her second, and one may start at once: it is held.
        sidebar = alice.get_by_test_id("stSidebar")
        workspaces_box(alice).locator("input").click()
        alice.get_by_role("option", name=re.compile("New workspace")).click()
        sidebar.get_by_label("Name of the new workspace").fill("Second study")
        sidebar.get_by_role("button", name="Create workspace").click()
        expect(alice).to_have_url(re.compile(rf"workspace=(?!{alice_ws})[0-9a-f]{{32}}"))  # her new one
        start_example(alice)
        expect(state_shown(alice, "Waiting")).to_be_visible()
        expect(alice.get_by_text("when one of the 1 run of yours ends", exact=False)).to_be_visible()
        assert set(my_workspace_names(alice)) >= {"My workspace", "Second study"}
        alice.get_by_text("Rename or delete this workspace").click()
        alice.get_by_test_id("stSidebar").get_by_label("Name", exact=True).fill("Renamed study")
        alice.get_by_role("button", name="Rename", exact=True).click()  # a form: name and press go together
        # .first: while the page reruns, the list made with the old name may still be there a moment.
        expect(workspaces_box(alice).locator("input").first).to_have_value(re.compile("Renamed study"))

        # Bob, from the same address: his own workspace, his own share (counted by address, his run
        # would be held behind Alice's).
        bob = new_page()
        bob_ws = sign_in(bob, server, "bob-0002")
        assert bob_ws != alice_ws
        names = my_workspace_names(bob)
        assert names == ["My workspace"], names  # his own, none of Alice's
        start_example(bob)
        expect(state_shown(bob, "Queued")).to_be_visible()
        shot(bob, "bob-queued", request)

        # Alice's link, opened by Bob: refused, and Bob stays in his own workspace.
        bob.goto(f"{server.url}/?workspace={alice_ws}")
        expect(bob.get_by_text("That workspace link is not one of your workspaces")).to_be_visible(
            timeout=60_000
        )
        expect(bob).to_have_url(re.compile(rf"workspace=(?!{alice_ws})[0-9a-f]{{32}}"))  # his own
        assert alice_ws not in bob.content()
        shot(bob, "refused-link", request)

        # Administrators by identity: Alice's group is in ADMIN_USERS; Bob's address is too, but
        # unverified, so he is not; Carol's verified address is.
        go_to(alice, "Queue admin")
        expect(alice.get_by_text("Signed in as administrator (Alice Analyst)")).to_be_visible()
        go_to(bob, "Queue admin")
        expect(bob.get_by_text(re.compile("ADMIN_USERS setting names them"))).to_be_visible()
        expect(bob.get_by_text("Signed in as administrator", exact=False)).to_have_count(0)
        expect(bob.get_by_label("Admin password")).to_have_count(0)
        carol = new_page()
        sign_in(carol, server, "carol-0003")
        go_to(carol, "Queue admin")
        carols = unlinked(f"Signed in as administrator ({PEOPLE['carol-0003']['name']})")
        expect(carol.get_by_text(carols)).to_be_visible()
        hrefs = carol.locator("a[href]").evaluate_all("links => links.map(a => a.href)")
        assert [h for h in hrefs if not h.startswith(server.url)] == []  # her name and address are text

        # Signing out ends the session (at the provider too); signing in again finds her workspaces.
        alice.get_by_role("button", name="Sign out").click()
        expect(alice.get_by_role("heading", name="End Session")).to_be_visible()  # at the provider
        alice.get_by_role("button", name="End session").click()
        expect(alice.get_by_role("button", name="Sign in")).to_be_visible(timeout=60_000)
        sign_in(alice, server, "alice-0001")
        assert set(my_workspace_names(alice)) >= {"My workspace", "Renamed study"}
    finally:
        server.stop()


def test_sign_in_mode_needs_its_provider_and_secrets(settings, redis_url):
    env = sign_in_env(settings, redis_url, "http://localhost:1", 8501)
    assert load_settings(env=env).auth.signed_in
    for missing in ("OIDC_METADATA_URL", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "AUTH_COOKIE_SECRET"):
        with pytest.raises(SettingsError, match=f"AUTH_MODE=oidc needs {missing}"):
            load_settings(env={**env, missing: ""})
    with pytest.raises(SettingsError, match="32 or more characters"):
        load_settings(env={**env, "AUTH_COOKIE_SECRET": "short-but-8"})
    with pytest.raises(SettingsError, match="needs PUBLIC_URL"):
        load_settings(env={**env, "PUBLIC_URL": ""})
    with pytest.raises(SettingsError, match="AUTH_MODE"):
        load_settings(env={**env, "AUTH_MODE": "ldap"})


def test_the_provider_secrets_are_in_no_file(settings, redis_url, provider, tmp_path):
    """The web server hands Streamlit its [auth] section in memory: nothing it writes (its temporary
    folder here) holds the client secret or the cookie secret. The browser test above signs in
    through that section."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    port = free_port()
    env = sign_in_env(settings, redis_url, provider, port, TMPDIR=str(temp))
    server = AppServer(env, tmp_path / "streamlit.log", port=port)
    try:
        page = httpx.get(server.url, timeout=30)
        assert page.status_code == 200
        written = [path for path in temp.rglob("*") if path.is_file()]
        for path in written:
            text = path.read_bytes()
            assert env["OIDC_CLIENT_SECRET"].encode() not in text, path
            assert env["AUTH_COOKIE_SECRET"].encode() not in text, path
        assert not list(temp.glob("openms-auth-*"))  # where an earlier version wrote them
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("email", "verified", "groups", "admin"),
    [
        ("alice@lab.example.org", None, (), False),  # no email_verified claim
        ("alice@lab.example.org", False, (), False),
        ("alice@lab.example.org", "false", (), False),
        ("Alice@Lab.Example.org", True, (), True),
        ("alice@lab.example.org", "true", (), True),  # some providers send a string
        ("alice@lab.example.org", 1, (), False),  # not a boolean claim
        ("", True, (), False),
        ("eve@lab.example.org", True, (), False),
        ("", None, ("Lab-Admins",), True),  # a group counts as sent
        ("alice@lab.example.org", False, ("roles-only",), False),
    ],
)
def test_an_e_mail_address_makes_an_administrator_only_if_verified(settings, email, verified, groups, admin):
    admins = "lab-admins,alice@lab.example.org"  # the setting
    env = sign_in_env(settings, "redis://127.0.0.1:1", "http://localhost:1", 8501, ADMIN_USERS=admins)
    person = auth.Person(
        key="k", name="n", email=email, memberships=groups, email_verified=auth.claim_is_true(verified)
    )
    assert person.is_admin(load_settings(env=env)) is admin
