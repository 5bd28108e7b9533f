"""The appliance's start-up check: ``python -m src settings check [--shell]``.

entrypoint.sh calls it before anything starts. It checks the app's settings and the
container's own variables (``where="appliance"`` in the declaration) with the same
rules as the app, plus the rules between them (the dashboard needs credentials,
scale-out needs a Redis password, a worker-only container needs a remote Redis). It
prints notes and the error to stderr; with ``--shell`` it prints the checked values as
shell assignments for the entrypoint to ``eval`` (true/false switches spelled as
supervisord wants them). Exit code 64 on any error, as the entrypoint's own.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
import sys
import threading
from collections.abc import Callable, Mapping

from src.core.errors import SettingsError
from src.core.settings import provider, proxies, spec
from src.core.settings.model import Settings, host_cores, load_settings
from src.core.settings.spec import DASHBOARD_PORT
from src.core.settings.values import parse, redact
from src.core.version import VERSION

#: What the container's shell scripts share with Python; the --shell output hands them over, so
#: entrypoint.sh and healthcheck.sh spell none of them.
EXIT_BAD_CONFIG = 64  # a refused configuration (EX_USAGE)
EXIT_FATAL = 70  # a critical program went FATAL (EX_SOFTWARE), docker/fatal_listener.py says which
FATAL_FILE = "/tmp/openms-fatal"  # where the listener writes why
WEB_PORT_BASE = 8600  # web server N listens on WEB_PORT_BASE + N, behind HAProxy on 8501


def _get(env: Mapping[str, str], name: str, notes: list[str]) -> object:
    setting = spec.by_env(name)
    raw = env.get(name, "")
    if raw.strip() == "":
        if setting.announce_default:
            notes.append(f"{name} is not set; starting the default of {setting.default} workers.")
        return parse(setting, setting.default, name)
    return parse(setting, raw, name)


def _cpu_notes(workers: int, servers: int) -> list[str]:
    cpus, notes = host_cores(), []
    if cpus and workers > cpus:
        notes.append(
            f"WARNING: RQ_WORKER_COUNT={workers} is more than the {cpus} CPUs this container may use; runs "
            f"will compete for CPU and finish later than with {cpus} workers (see BENCHMARKS.md)."
        )
    if cpus and servers > cpus:
        notes.append(
            f"WARNING: STREAMLIT_SERVER_COUNT={servers} is more than the {cpus} CPUs this container may "
            "use; more web servers than CPUs only add memory and context switches (see BENCHMARKS.md)."
        )
    return notes


def _appliance_rules(env: Mapping[str, str], values: dict, notes: list[str]) -> None:
    if values["RQ_DASHBOARD_ENABLED"]:
        if not values["RQ_DASHBOARD_USERNAME"] or not values["RQ_DASHBOARD_PASSWORD"]:
            raise SettingsError(
                "RQ_DASHBOARD_ENABLED=true needs RQ_DASHBOARD_USERNAME and RQ_DASHBOARD_PASSWORD; the "
                "dashboard is never served without credentials."
            )
        notes.append(
            f"rq-dashboard enabled on port {DASHBOARD_PORT} for user '{values['RQ_DASHBOARD_USERNAME']}'."
        )
    if values["SCALE_OUT"] and not values["REDIS_PASSWORD"]:
        raise SettingsError(
            "SCALE_OUT=true makes Redis reachable from other containers; set REDIS_PASSWORD (16+ "
            "characters) so that only your workers can use it. Redis is not exposed without one."
        )


def _worker_rules(env: Mapping[str, str]) -> None:
    url = env.get("REDIS_URL", "")
    if "'" in url:
        raise SettingsError("REDIS_URL must not contain a single quote.")
    host = url.partition("://")[2].rpartition("@")[2]
    if not url or host.startswith(("127.0.0.1", "localhost")):
        raise SettingsError(
            "ROLE=worker needs REDIS_URL pointing at the appliance's Redis, e.g. "
            "redis://:PASSWORD@app:6379/0 (this container runs no Redis of its own)."
        )


def _bounded(call: Callable[[], object], seconds: float) -> object:
    """``call()``, or ProviderUnreachable after ``seconds``: a name lookup has no timeout of its own,
    and the container's start must not hang on a provider that does not answer."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except (SettingsError, provider.ProviderUnreachable) as err:
            outcome["error"] = err
        except Exception as err:  # noqa: BLE001 - said as a warning: a check must not stop the start
            failed = f"the check itself failed: {type(err).__name__}: {err}"
            outcome["error"] = provider.ProviderUnreachable(failed)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise provider.ProviderUnreachable(f"no answer within {seconds:g} s")
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]


def _provider_notes(app: Settings) -> list[str]:
    """Sign-in mode: the redirect URI to register, and whether the provider answers as the sign-in
    needs. A provider that cannot be reached is a warning (the container starts, and the sign-in
    page says so until it answers); a URL that is no discovery document stops the start."""
    auth = app.auth
    callback = provider.redirect_uri(app.public_url)
    notes = [
        f"Sign-in: the provider must have {callback} registered as a redirect URI (and as a post-logout "
        f"redirect URI) of client '{auth.client_id}'."
    ]
    try:
        document = _bounded(lambda: provider.fetch_document(auth.metadata_url), 3 * provider.TIMEOUT)
        refusal = _bounded(
            lambda: provider.try_client(document, auth.client_id, auth.client_secret, app.public_url),
            3 * provider.TIMEOUT,
        )
    except provider.ProviderUnreachable as err:
        return [
            *notes,
            f"WARNING: the identity provider could not be asked: {err}. Starting anyway; until it "
            "answers, every sign-in fails with this reason on the page. Check that the provider is up "
            "and that this container reaches OIDC_METADATA_URL (network, proxy variables, DNS).",
        ]
    if refusal is not None:
        return [
            *notes,
            f"WARNING: the identity provider refused this server's client credentials ({refusal.error}: "
            f"{refusal.description or 'no description'}). Starting anyway; every sign-in fails until "
            "OIDC_CLIENT_ID and OIDC_CLIENT_SECRET match a client registered at the provider.",
        ]
    issuer = document["issuer"]  # type: ignore[index]
    return [*notes, f"Sign-in: the identity provider {issuer} answers and accepts client '{auth.client_id}'."]


def check(env: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """(checked values for the shell, notes) for this environment; SettingsError if it cannot start."""
    notes: list[str] = []
    role = _get(env, "ROLE", notes)
    workers = _get(env, "RQ_WORKER_COUNT", notes)
    stop_wait = _get(env, "WORKER_STOP_WAIT", notes)
    app = load_settings(env=env)  # the app's own settings, as the app will read them
    names = [s.env for s in spec.SETTINGS if s.where == "appliance"] + ["RQ_DASHBOARD_ENABLED"]
    values = {name: _get(env, name, notes) for name in names}
    if role == "worker":
        _worker_rules(env)
    else:
        _appliance_rules(env, values, notes)
        if app.auth.signed_in:
            notes += _provider_notes(app)
    notes += _cpu_notes(int(workers), int(values["STREAMLIT_SERVER_COUNT"]))
    trusted = [ipaddress.ip_network(n) for n in values["FORWARDED_ALLOW_IPS"]]
    notes.append(proxies.broad_warning("FORWARDED_ALLOW_IPS", trusted))
    exports = {
        "ROLE": str(role),
        "RQ_WORKER_COUNT": str(workers),
        "WORKER_STOP_WAIT": str(stop_wait),
        "RQ_DASHBOARD_ENABLED": "true" if values["RQ_DASHBOARD_ENABLED"] else "false",
        "SCALE_OUT": "true" if values["SCALE_OUT"] else "false",
        # The appliance's HAProxy believes X-Forwarded-For only from these outer proxies, and the
        # web servers believe it only from HAProxy (docker/haproxy.cfg).
        "TRUSTED_PROXIES": " ".join(values["FORWARDED_ALLOW_IPS"]),
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
        "STREAMLIT_SERVER_COUNT": str(values["STREAMLIT_SERVER_COUNT"]),
        # The proxy refuses request bodies beyond the upload limit (plus room for the form's framing).
        "MAX_REQUEST_BYTES": str(app.limits.max_upload_bytes + 1024**2),
        "EXIT_BAD_CONFIG": str(EXIT_BAD_CONFIG),
        "EXIT_FATAL": str(EXIT_FATAL),
        "FATAL_FILE": FATAL_FILE,
        "WEB_PORT_BASE": str(WEB_PORT_BASE),
        "REDIS_URL_SHOWN": redact(env.get("REDIS_URL", "")),
        "APP_VERSION": VERSION,
    }
    return exports, [n for n in dict.fromkeys(notes) if n]


def main(shell: bool = False) -> int:
    """The check for the environment of this process; ``shell``: print the values as assignments."""
    try:
        exports, notes = check(os.environ)
    except SettingsError as err:
        print(f"entrypoint: ERROR: {err}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    for note in notes:
        print(f"entrypoint: {note}", file=sys.stderr)
    if shell:
        print("\n".join(f"{name}={shlex.quote(value)}" for name, value in exports.items()))
    return 0
