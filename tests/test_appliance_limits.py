"""Limits that hold against a determined visitor, on the real image: a forged X-Forwarded-For,
simultaneous sign-ins, parallel uploads, endless page loads, a tool reaching for secrets, and the
headers every answer carries (raw HTTP and a real browser)."""

from __future__ import annotations

import re
import shlex
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
import yaml
from playwright.sync_api import Page, expect

from src.core.execution.sandbox import TOOL_UID_COUNT, TOOL_UID_FIRST
from tests.appliance_support import host_address_seen_from_containers, run_probe
from tests.browser_support import ADMIN_PASSWORD, go_to, open_app, start_example_run, state_shown
from tests.conftest import REPO
from tests.test_visitor_limits import PRESS_SIGN_IN

pytestmark = [pytest.mark.slow, pytest.mark.container]

MB = 1024**2


@dataclass
class Site:
    url: str


def shipped_k8s_value() -> str:
    """FORWARDED_ALLOW_IPS as deploy/k8s/appliance.yaml sets it."""
    for document in yaml.safe_load_all((REPO / "deploy/k8s/appliance.yaml").read_text()):
        pod = (document or {}).get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []):
            for variable in container.get("env", []):
                if variable["name"] == "FORWARDED_ALLOW_IPS":
                    return variable["value"]
    raise AssertionError("deploy/k8s/appliance.yaml sets no FORWARDED_ALLOW_IPS")


def sign_in(page: Page, password: str) -> None:
    page.get_by_label("Admin password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.parametrize("trusted", ["k8s", "default", "this host"])
def test_a_forged_x_forwarded_for_counts_only_from_a_trusted_proxy(box, new_page, trusted, docker_client):
    environment = {"RQ_WORKER_COUNT": "1", "ADMIN_PASSWORD": ADMIN_PASSWORD, "RUNNING_RUNS_PER_CLIENT": "1"}
    if trusted == "k8s":
        environment["FORWARDED_ALLOW_IPS"] = shipped_k8s_value()
    elif trusted == "this host":  # the browser, at this host's bridge address, stands in for an outer proxy
        environment["FORWARDED_ALLOW_IPS"] = host_address_seen_from_containers(docker_client)
    appliance = box(environment=environment)
    appliance.wait_healthy()
    appliance.sh("supervisorctl stop 'worker:*'")  # runs stay queued
    site = Site(f"http://{appliance.ip}:8501")
    believed = trusted == "this host"
    for n in range(5):  # five wrong passwords, each from a new tab that claims a new address
        page = new_page(visitor=f"203.0.113.{n}")
        open_app(page, site, "admin")
        sign_in(page, "wrong-password")
        expect(page.get_by_text(re.compile("Wrong admin password"))).to_be_visible()
    page = new_page(visitor="203.0.113.99")
    open_app(page, site, "admin")
    sign_in(page, ADMIN_PASSWORD)
    if believed:  # a new address from a trusted proxy: a new visitor, whose right password counts
        expect(page.get_by_text(re.compile("Signed in as administrator"))).to_be_visible()
    else:
        expect(page.get_by_text(re.compile("This try was not checked"))).to_be_visible()

    expect(state_shown(start_example_run(new_page(visitor="198.51.100.1"), site), "Queued")).to_be_visible()
    second = start_example_run(new_page(visitor="198.51.100.2"), site)
    if believed:
        expect(state_shown(second, "Queued")).to_be_visible()
    else:  # the same visitor as the first run: over its share, so held
        expect(state_shown(second, "Waiting")).to_be_visible()
        expect(
            second.get_by_text(re.compile(r"when one of the 1 run from your network ends"))
        ).to_be_visible()
    logs = appliance.logs()
    assert ("wrong admin password from 203.0.113.0" in logs) == believed
    assert ("wrong admin password from 198.51.100" in logs) is False


def test_simultaneous_sign_ins_on_two_web_servers_check_at_most_five_and_the_operator_gets_in(box, new_page):
    environment = {"RQ_WORKER_COUNT": "1", "STREAMLIT_SERVER_COUNT": "2", "ADMIN_PASSWORD": ADMIN_PASSWORD}
    appliance = box(environment=environment)
    appliance.wait_healthy()
    script = shlex.quote(PRESS_SIGN_IN)
    server = f"python -c {script} 2>/dev/null"  # what a web server does when Sign in is pressed
    both = appliance.sh(f"cd /app && ({server} w1- & {server} w2- & wait)", user="openms")
    outcomes = both.split()
    assert len(outcomes) == 30 and outcomes.count("checked") <= 5, outcomes

    page = new_page()
    open_app(page, Site(f"http://{appliance.ip}:8501"), "admin")
    for _ in range(5):
        sign_in(page, "wrong-password")
        expect(page.get_by_text(re.compile("Wrong admin password"))).to_be_visible()
    sign_in(page, ADMIN_PASSWORD)
    expect(page.get_by_text(re.compile("not checked"))).to_be_visible()  # locked out, the admin too
    token = appliance.sh("admin-token 2>/dev/null").strip()
    sign_in(page, token)
    expect(page.get_by_text(re.compile("Signed in as administrator"))).to_be_visible()


def test_parallel_uploads_never_store_more_than_the_quota(box, new_page):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "WORKSPACE_QUOTA_GB": str(20.5 / 1024)})
    appliance.wait_healthy()
    page = new_page()
    workspace = open_app(page, Site(f"http://{appliance.ip}:8501"), "file_upload")
    head = b'<?xml version="1.0"?>\n<indexedmzML xmlns="http://psi.hupo.org/ms/mzml">'
    data = head + b" " * (int(4.5 * MB) - len(head))
    files = [{"name": f"run{n}.mzML", "mimeType": "text/xml", "buffer": data} for n in range(8)]
    page.locator('input[type="file"]').set_input_files(files)
    for n in range(8):
        expect(page.get_by_role("button", name=f"Remove run{n}.mzML")).to_be_visible(timeout=120_000)
    page.get_by_test_id("stBaseButton-secondaryFormSubmit").filter(has_text="Add files").click()
    expect(page.get_by_text(re.compile(r"mzML files in this workspace \(\d\)"))).to_be_visible()
    stored = int(appliance.sh(f"du -sb /data/workspaces/{workspace} | cut -f1"))
    assert stored <= 20.5 * MB, stored
    added = page.get_by_text(re.compile(r"^Added run\d\.mzML$")).count()
    assert 1 <= added <= 4 and page.get_by_text(re.compile("quota")).count() >= 8 - added
    assert appliance.sh(f"find /data/workspaces/{workspace} -name '*.part'").strip() == ""


def test_page_loads_from_one_client_make_no_more_workspaces_than_allowed(box, new_page):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", "NEW_WORKSPACES_PER_CLIENT_PER_HOUR": "10"})
    appliance.wait_healthy()
    page = new_page()
    site = f"http://{appliance.ip}:8501/"
    for _ in range(60):
        page.goto(site)
        shown = page.get_by_text(re.compile(r"(online mode|new workspaces were made from your address)"))
        expect(shown.first).to_be_visible()
    expect(page.get_by_text(re.compile("10 new workspaces were made from your address"))).to_be_visible()
    made = appliance.sh("find /data/workspaces -mindepth 1 -maxdepth 1 -type d -not -name '.*' | wc -l")
    assert int(made) == 10


SECRETS = {
    "ADMIN_PASSWORD": "admin-pw-0123456789",
    "REDIS_PASSWORD": "redispassword0123456789",
    "RQ_DASHBOARD_ENABLED": "true",
    "RQ_DASHBOARD_USERNAME": "dash-user-secret",
    "RQ_DASHBOARD_PASSWORD": "dash-pw-0123456789",
    "SMTP_HOST": "mail.example.org",
    "SMTP_FROM": "openms@example.org",
    "SMTP_USER": "smtp-user-secret",
    "SMTP_PASSWORD": "smtp-pw-0123456789",
    "PUBLIC_URL": "https://openms.example.org",
    "NOTIFY_WEBHOOK_URL": "https://hooks.example.org/T0KEN-0123456789",
    "METRICS_ENABLED": "true",
    "METRICS_TOKEN": "metrics-token-0123456789",
    "AUTH_MODE": "oidc",
    "OIDC_METADATA_URL": "https://id.example.org/.well-known/openid-configuration",
    "OIDC_CLIENT_ID": "openms-client-0123456789",
    "OIDC_CLIENT_SECRET": "oidc-client-secret-0123456789",
    "AUTH_COOKIE_SECRET": "cookie-secret-0123456789-0123456789-0123456789",
}


def test_a_tool_sees_no_secret_and_cannot_read_the_apps(box, docker_client):
    appliance = box(environment={"RQ_WORKER_COUNT": "1", **SECRETS})
    appliance.wait_healthy()
    printed = run_probe(appliance, "probe")
    uid = int(re.search(r"^UID (\d+)$", printed, re.MULTILINE)[1])
    assert "ENV PATH=" in printed and TOOL_UID_FIRST <= uid < TOOL_UID_FIRST + TOOL_UID_COUNT  # a tools' uid
    assert "ENV OPENMS_DISABLE_UPDATE_CHECK=ON" in printed  # no tool asks openms.de for a newer OpenMS
    for name, value in SECRETS.items():
        assert value not in printed, f"{name} reached the tool"
    assert not re.search(r"ENV (SMTP|NOTIFY|REDIS|RQ_|ADMIN|PUBLIC_URL|METRICS|OIDC|AUTH_)", printed)
    assert "/tmp/openms-auth-" not in printed  # the provider's secrets are in the web server's memory only
    uids = appliance.sh(
        "for p in /proc/[0-9]*; do echo ${p#/proc/} $(awk '/^Uid:/{print $2}' $p/status); done"
    )
    app_pids = [
        pid
        for pid, uid in (line.split() for line in uids.splitlines() if len(line.split()) == 2)
        if uid == "10001"
    ]
    assert app_pids, "no process of the app's uid found"
    for pid in app_pids:  # the worker, supervisord, the web server, Redis: none readable
        assert f"READ /proc/{pid}/environ" not in printed, pid
    assert "REFUSED /tmp/openms-redis.conf" in printed and "REFUSED /tmp/openms-runtime.env" in printed


def headers_of(url: str) -> dict[str, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return {name.lower(): value for name, value in answer.headers.items()}


def test_every_answer_has_the_security_headers_and_a_download_link_expires(box, new_page):
    appliance = box(environment={"RQ_WORKER_COUNT": "1"})
    appliance.wait_healthy()
    base = f"http://{appliance.ip}:8501"
    page_headers = headers_of(base + "/")
    assert page_headers["x-frame-options"] == "DENY"
    assert page_headers["content-security-policy"] == "frame-ancestors 'none'"
    assert page_headers["x-content-type-options"] == "nosniff"
    assert page_headers["referrer-policy"] == "no-referrer"
    with pytest.raises(urllib.error.HTTPError) as closed:
        urllib.request.urlopen(base + "/_stcore/metrics", timeout=10)
    assert closed.value.code == 404

    page = new_page()
    workspace = open_app(page, Site(base), "file_upload")
    page.get_by_role("button", name="Load example data").click()
    expect(page.get_by_text("Example data loaded")).to_be_visible()
    go_to(page, "Run")
    page.get_by_role("button", name="Start Workflow").click()
    expect(state_shown(page, "Completed")).to_be_visible(timeout=180_000)
    go_to(page, "Results")
    href = page.get_by_role("link", name=re.compile("Download all results")).get_attribute("href")
    assert href.startswith("/download/") and workspace not in href  # names no workspace
    download = page.request.get(base + href).headers  # the page's own browser (its cookie goes along)
    assert download["content-type"] == "application/zip" and download["cache-control"] == "no-store"
    with pytest.raises(urllib.error.HTTPError) as elsewhere:  # anywhere else: refused
        urllib.request.urlopen(base + href, timeout=10)
    assert elsewhere.value.code == 403
    assert download["content-disposition"].startswith("attachment;")
    assert download["x-frame-options"] == "DENY" and download["x-content-type-options"] == "nosniff"
    assert page.locator('a[href*="/media/"]').count() == 0  # no file lies at a URL of its own
    forged = href[:-4] + ("AAAA" if not href.endswith("AAAA") else "BBBB")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(base + forged, timeout=10)
    assert refused.value.code == 404
