"""The one place where settings are read, from the declaration in ``settings/spec.py``.

Values come from ``settings.json`` (next to ``app.py``; generated from the declaration's
defaults) and can be overridden by environment variables, which is how the container
configures the app. Every value is checked on loading, so a nonsense value stops the
app with a message that names the setting instead of failing somewhere deep inside a run.

The command line (``python -m src.core.settings``) is ``__main__.py``.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from src.core.errors import SettingsError
from src.core.settings import spec
from src.core.settings.spec import PRIORITIES, Setting
from src.core.settings.values import parse, parse_password

PROJECT_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "settings.json"
#: Read another settings file instead of settings.json.
ENV_SETTINGS_FILE = "SETTINGS_FILE"

GB = 1024**3
MB = 1024**2

#: What the tools and scripts a run starts get of the environment: what a program needs to run
#: (paths, locale, time zone, temporary folders, Python's own switches, the OpenMS tools'
#: variables, and Windows' basics for local mode there), nothing else. No setting of the app
#: reaches them, secret or not (passwords, the Redis URL, the webhook URL, the SMTP login).
TOOL_ENV_NAMES = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TERM", "LANG", "LANGUAGE", "TZ",
        "TMPDIR", "TMP", "TEMP", "PYTHONPATH", "PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE",
        "PYTHONIOENCODING", "VIRTUAL_ENV", "OMP_NUM_THREADS",
        "SYSTEMROOT", "SYSTEMDRIVE", "WINDIR", "COMSPEC", "PATHEXT", "APPDATA", "LOCALAPPDATA",
        "USERPROFILE", "PROGRAMDATA", "NUMBER_OF_PROCESSORS",
    }
)  # fmt: skip
TOOL_ENV_PREFIXES = ("LC_", "OPENMS_", "XDG_")
#: What the tools get on top, unless the environment sets it. A TOPP tool asks openms.de whether
#: a newer OpenMS exists, at most once a day per tool and home folder (it notes the day in
#: ~/.OpenMS). In the appliance each workspace's tools run under a uid with a home of its own
#: (docker/run-as-tool.c), so a run's first command of each tool asked, and with no network it
#: waited about a second for the answer (FileInfo in the image: 1.15 s, then 0.11 s). On a
#: networked server it also told openms.de of each new workspace's tools.
TOOL_ENV_DEFAULTS = {"OPENMS_DISABLE_UPDATE_CHECK": "ON"}


@dataclass(frozen=True)
class QueueSettings:
    """How online mode uses Redis and RQ; see the settings reference in the README."""

    enabled: bool
    redis_url: str
    queue_names: dict[str, str]  # priority -> RQ queue name
    job_timeout: int  # seconds a run may take before RQ kills it
    result_ttl: int  # seconds a finished job stays in Redis
    failure_ttl: int  # seconds a failed job stays in Redis
    retries: int  # extra attempts for a job whose worker was lost
    retry_intervals: tuple[int, ...]  # seconds to wait before each retry (needs the worker's scheduler)
    max_queued: int  # Start is refused when this many jobs are waiting
    connect_timeout: float
    socket_timeout: float
    job_monitoring_interval: int  # seconds between a busy worker's heartbeats
    heartbeat_grace: int  # seconds a missed heartbeat is tolerated before a job counts as abandoned
    maintenance_interval: int  # seconds between a worker's registry clean-ups (finds abandoned jobs)
    worker_ttl: int  # seconds an idle worker's registration lives between its heartbeats
    spread: bool  # a step over several files becomes one piece per file for any free worker
    threads_per_piece: int  # `-threads` of each piece's tool
    lend_idle_workers: bool  # a lone step borrows its host's idle workers' threads (scheduler.lend)

    @property
    def ordered_queue_names(self) -> list[str]:
        return [self.queue_names[p] for p in PRIORITIES]

    @property
    def lost_worker_bound(self) -> int:
        """Upper bound (s) until a job whose worker died is retried or failed.

        The job's last heartbeat expires after ``job_monitoring_interval + heartbeat_grace``; an
        idle worker then notices at its next maintenance pass, which waits for its blocking
        dequeue to time out (``worker_ttl - 15``) and for the maintenance interval.
        """
        dequeue_wait = max(1, self.worker_ttl - 15)
        return (
            self.job_monitoring_interval + self.heartbeat_grace + max(dequeue_wait, self.maintenance_interval)
        )


@dataclass(frozen=True)
class Limits:
    """What one anonymous visitor may consume; see docs/security.md."""

    max_upload_bytes: int  # largest single upload
    workspace_quota_bytes: int  # inputs, results and logs of one workspace together
    min_free_bytes: int  # uploads and starts are refused when the workspaces volume has less free
    running_runs_per_client: int  # runs of one client address started at once; the others are held
    held_runs_per_client: int  # runs of one client address held at once; more are refused
    view_indexes_per_client: int  # viewer indexes of one client address queued or building at once
    run_memory_gb: float  # memory each tool of a run may use; 0: this host's memory / runs_at_once
    runs_at_once: int  # runs this host runs at the same time (RQ_WORKER_COUNT online, else 1)
    new_workspaces_per_client_per_hour: int  # online mode: fresh workspaces per client address
    empty_workspace_seconds: int  # online mode: a workspace never used is removed this long after
    sessions_per_client: int  # open pages (websocket sessions) of one client address per web server
    admin_session_seconds: int  # how long an admin sign-in lasts
    admin_max_failures: int  # wrong admin passwords per visitor within admin_failure_window ...
    admin_failure_window_seconds: int  # ... before further tries are refused unchecked


@dataclass(frozen=True)
class Notify:
    """Where the end of a run is announced; see docs/notifications.md. Empty: off."""

    webhook_url: str
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_ca_file: str  # CA certificates (PEM) trusted for the mail server besides the system's
    smtp_user: str
    smtp_password: str
    smtp_from: str
    mails_per_address_per_hour: int  # e-mails to one address, from all workspaces
    mails_per_workspace_per_hour: int  # e-mails one workspace may cause
    code_mails_per_client_per_hour: int  # confirmation codes one visitor (address or person) may ask for
    confirm_minutes: int  # how long an address's confirmation code is valid

    @property
    def email_enabled(self) -> bool:
        return bool(self.smtp_host and self.smtp_from)


@dataclass(frozen=True)
class Auth:
    """How visitors are known; see docs/sign-in.md."""

    mode: str  # "anonymous" (the workspace link is the key) or "oidc" (signed in)
    metadata_url: str  # the provider's discovery document
    client_id: str
    client_secret: str
    cookie_secret: str  # signs Streamlit's sign-in cookie; the same on every web server
    admin_users: tuple[str, ...]  # e-mail addresses or group/role claim values of administrators
    prompt: str = ""  # the ``prompt`` asked of the provider at sign-in; "" = none sent

    @property
    def signed_in(self) -> bool:
        return self.mode == "oidc"


#: The shortest cookie secret accepted: it signs everyone's sign-in.
COOKIE_SECRET_MIN_LENGTH = 32


@dataclass(frozen=True)
class Metrics:
    """The Prometheus endpoint; see docs/operations.md."""

    enabled: bool  # /metrics answers on the app's port
    token: str  # the bearer token a scrape must send; "" = none asked


@dataclass(frozen=True)
class Settings:
    """Typed, validated application settings."""

    app_name: str
    online_deployment: bool
    workspaces_dir: Path
    max_threads_local: int
    max_threads_online: int
    log_level: str
    log_format: str  # the processes' own log lines: "text" or "json"
    resource_refresh_seconds: float
    workspace_max_age_days: float  # online mode: workspaces untouched this long are removed
    cleanup_interval_seconds: int  # how often the appliance looks for such workspaces
    queue: QueueSettings
    admin_password: str  # unlocks the admin page's requeue/delete actions; "" = not from the environment
    dashboard_enabled: bool  # rq-dashboard runs beside the app (the appliance's RQ_DASHBOARD_ENABLED)
    dashboard_url: str  # where to link to it; "" = DASHBOARD_PORT on the host the visitor used
    limits: Limits
    runs_kept: int  # runs kept per workspace (history), the latest included
    workflows: tuple[str, ...]  # ids of the workflows offered, in order; () = every installed one
    protein_databases_dir: Path  # FASTA files the proteomics workflow offers
    public_url: str  # the app's address for links in notifications; "" = unknown
    notify: Notify
    metrics: Metrics
    auth: Auth
    source: Path

    @property
    def max_threads(self) -> int:
        """Threads a single run may use in the current mode; online, by default (0) its share of
        this host's cores: every core used however many workers the host has, none twice."""
        if not self.online_deployment:
            return self.max_threads_local
        if self.max_threads_online:
            return self.max_threads_online
        return max(1, host_cores() // max(1, self.limits.runs_at_once))

    @property
    def mode(self) -> str:
        return "online" if self.online_deployment else "local"


def host_cores() -> int:
    """The cores this process may use: those it may run on, fewer if its container's CPU quota
    (cgroup v2 ``cpu.max``, Docker's ``--cpus``) allows fewer."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max" or not period.isdigit() or not quota.isdigit() or int(period) == 0:
        return cores
    return max(1, min(cores, int(quota) // int(period)))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SettingsError(
            f"Settings file {path} does not exist. Restore settings.json or point "
            f"{ENV_SETTINGS_FILE} at a valid file."
        ) from None
    except json.JSONDecodeError as err:
        raise SettingsError(f"Settings file {path} is not valid JSON: {err}.") from None
    if not isinstance(data, dict):
        raise SettingsError(f"Settings file {path} must hold a JSON object.")
    return data


def _flatten(data: Mapping, path: Path, prefix: str = "") -> dict[str, object]:
    """settings.json's values by dotted key; an unknown key (a typo) is refused."""
    keys = {s.key for s in spec.SETTINGS if s.key}
    found: dict[str, object] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if name.startswith("_"):
            continue  # comments
        if key in keys:
            found[key] = value
        elif isinstance(value, Mapping) and any(k.startswith(f"{key}.") for k in keys):
            found.update(_flatten(value, path, f"{key}."))
        elif key in RENAMED:
            raise SettingsError(f"{path}: {RENAMED[key][2]}")
        else:
            raise SettingsError(
                f"{path} has an unknown setting {key!r}; see the settings table in README.md."
            )
    return found


#: Settings of earlier versions, by key: (their environment variable, what replaced them, why).
RENAMED = {
    "limits.max_runs_per_client": (
        "MAX_RUNS_PER_CLIENT",
        "limits.running_runs_per_client",
        "'limits.max_runs_per_client' is now 'limits.running_runs_per_client' (RUNNING_RUNS_PER_CLIENT): "
        "a visitor's runs beyond it are held and start by themselves instead of being refused; "
        "'limits.held_runs_per_client' (HELD_RUNS_PER_CLIENT) bounds how many are held. Rename it.",
    ),
}


def _check_renamed(env: Mapping[str, str]) -> None:
    """An environment variable of an earlier version that is still set is refused, not ignored."""
    for old_env, _, message in RENAMED.values():
        if (env.get(old_env) or "").strip():
            raise SettingsError(f"{old_env} is set: {message}")


def _value(setting: Setting, data: Mapping[str, object], env: Mapping[str, str]) -> object:
    """Environment beats settings.json beats the declared default; empty env values are ignored."""
    raw = env.get(setting.env) if setting.env else None
    if raw is not None and raw.strip() != "":
        return parse(setting, raw, setting.env)
    if setting.key in data:
        return parse(setting, data[setting.key], setting.env or setting.key)
    return parse(setting, setting.default, setting.name)


def values(data: Mapping[str, object], env: Mapping[str, str]) -> dict[str, object]:
    """Every app setting's checked value, by name (key, else environment variable)."""
    return {s.name: _value(s, data, env) for s in spec.SETTINGS if s.where == "app"}


def _check_passwords(env: Mapping[str, str]) -> None:
    """The deployment's other passwords (Redis, rq-dashboard) are checked here too, so the app never
    runs beside an example password, whoever starts it."""
    for setting in spec.SETTINGS:
        if setting.where == "appliance" and setting.kind in ("password", "secret") and env.get(setting.env):
            parse(setting, env[setting.env], setting.env)


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings.json and apply environment overrides; raise SettingsError on bad values."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env.get(ENV_SETTINGS_FILE) or DEFAULT_SETTINGS_FILE)
    path = Path(path).resolve()
    _check_renamed(env)
    got = values(_flatten(_read_json(path), path), env)
    _check_passwords(env)
    workspaces = Path(str(got["workspaces_dir"]))
    return Settings(
        app_name=str(got["app_name"]),
        online_deployment=bool(got["online_deployment"]),
        workspaces_dir=workspaces if workspaces.is_absolute() else path.parent / workspaces,
        max_threads_local=int(got["max_threads.local"]),
        max_threads_online=int(got["max_threads.online"]),
        log_level=str(got["log_level"]),
        log_format=str(got["log_format"]),
        resource_refresh_seconds=float(got["resource_refresh_seconds"]),
        workspace_max_age_days=float(got["workspace_max_age_days"]),
        cleanup_interval_seconds=int(got["cleanup_interval_seconds"]),
        queue=_queue(got, env),
        admin_password=str(got["ADMIN_PASSWORD"]),
        dashboard_enabled=bool(got["RQ_DASHBOARD_ENABLED"]),
        dashboard_url=str(got["RQ_DASHBOARD_URL"]),
        limits=_limits(got, _runs_at_once(bool(got["online_deployment"]), env)),
        runs_kept=int(got["runs_kept"]),
        workflows=tuple(got["workflows"]),
        protein_databases_dir=_beside(path, Path(str(got["protein_databases_dir"]))),
        public_url=str(got["public_url"]),
        notify=_notify(got),
        metrics=Metrics(enabled=bool(got["metrics.enabled"]), token=str(got["METRICS_TOKEN"])),
        auth=_auth(got),
        source=path,
    )


def _beside(settings_file: Path, folder: Path) -> Path:
    """A folder setting: as given when absolute, else relative to settings.json."""
    return folder if folder.is_absolute() else settings_file.parent / folder


def _notify(got: Mapping[str, object]) -> Notify:
    fields = [name for name in Notify.__dataclass_fields__ if name != "smtp_password"]
    notify = Notify(
        smtp_password=str(got["SMTP_PASSWORD"]), **{name: got[f"notify.{name}"] for name in fields}
    )
    if notify.smtp_host and not notify.smtp_from:
        raise SettingsError("SMTP_HOST is set but SMTP_FROM is not: set the sender address of the e-mails.")
    if notify.smtp_host and not str(got["public_url"]).startswith(("http://", "https://")):
        raise SettingsError(
            "SMTP_HOST is set but PUBLIC_URL is not a full http(s) address: every e-mail links back "
            "to this server (the workspace, and how to stop the e-mails). Set PUBLIC_URL to the "
            "address visitors use, e.g. https://openms.example.org."
        )
    if notify.smtp_user and not notify.smtp_starttls:
        raise SettingsError(
            "SMTP_USER is set but SMTP_STARTTLS is false: the mail server's password would cross the "
            "network unencrypted. Set SMTP_STARTTLS=true (the mail server's submission port, 587), or "
            "unset SMTP_USER for a mail server that takes mail without a login."
        )
    if notify.smtp_ca_file:
        _check_ca_file(Path(notify.smtp_ca_file))
    return notify


def _check_ca_file(path: Path) -> None:
    """SMTP_CA_FILE must hold PEM certificates: a wrong file would fail every e-mail, found late."""
    if not path.is_file():
        raise SettingsError(
            f"SMTP_CA_FILE {path} does not exist (in the container: mount it, read-only): point it at "
            "the PEM file of the CA that signed the mail server's certificate."
        )
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError) as err:
        raise SettingsError(
            f"SMTP_CA_FILE {path} holds no PEM certificate that can be read ({err}): point it at the "
            "CA's certificate (-----BEGIN CERTIFICATE-----), not at a key or a DER file."
        ) from None


def _auth(got: Mapping[str, object]) -> Auth:
    auth = Auth(
        mode=str(got["auth.mode"]),
        metadata_url=str(got["auth.metadata_url"]),
        client_id=str(got["auth.client_id"]),
        client_secret=str(got["OIDC_CLIENT_SECRET"]),
        cookie_secret=str(got["AUTH_COOKIE_SECRET"]),
        admin_users=tuple(got["auth.admin_users"]),
        prompt=str(got["auth.prompt"]),
    )
    if not auth.signed_in:
        return auth
    needed = {
        "OIDC_METADATA_URL": auth.metadata_url,
        "OIDC_CLIENT_ID": auth.client_id,
        "OIDC_CLIENT_SECRET": auth.client_secret,
        "AUTH_COOKIE_SECRET": auth.cookie_secret,
    }
    missing = [name for name, value in needed.items() if not value]
    if missing:
        raise SettingsError(
            f"AUTH_MODE=oidc needs {', '.join(missing)}: the provider's discovery URL, and the client id "
            "and secret this server has there (docs/sign-in.md)."
        )
    if len(auth.cookie_secret) < COOKIE_SECRET_MIN_LENGTH:
        raise SettingsError(
            f"AUTH_COOKIE_SECRET must have {COOKIE_SECRET_MIN_LENGTH} or more characters: it signs every "
            "sign-in. Make one with `openssl rand -hex 32`."
        )
    if not str(got["public_url"]).startswith(("http://", "https://")):
        raise SettingsError(
            "AUTH_MODE=oidc needs PUBLIC_URL, the address visitors use (e.g. https://openms.example.org): "
            "the provider sends them back to PUBLIC_URL/oauth2callback after they sign in."
        )
    if not bool(got["online_deployment"]):
        raise SettingsError("AUTH_MODE=oidc needs ONLINE_DEPLOYMENT=true: sign-in is for a shared server.")
    return auth


def _queue(got: Mapping[str, object], env: Mapping[str, str]) -> QueueSettings:
    fields = QueueSettings.__dataclass_fields__
    picked = {name: got[f"queue_settings.{name}"] for name in fields if f"queue_settings.{name}" in got}
    picked["redis_url"] = with_redis_password(str(picked["redis_url"]), env)
    return QueueSettings(queue_names=got["queue_settings.queues"], **picked)


def with_redis_password(url: str, env: Mapping[str, str]) -> str:
    """``url`` with the appliance's Redis password when it names none: REDIS_PASSWORD, else the one
    the appliance generated (REDIS_PASSWORD_FILE), if this process may read it. The app's own
    processes and an operator's ``docker exec`` can; the tools' uids cannot."""
    if not url.startswith("redis://") or "@" in url:
        return url
    password = env.get("REDIS_PASSWORD", "")
    if not password and env.get("REDIS_PASSWORD_FILE"):
        try:
            password = Path(env["REDIS_PASSWORD_FILE"]).read_text(encoding="utf-8").strip()
        except OSError:
            password = ""
    return f"redis://:{password}@{url.removeprefix('redis://')}" if password else url


def _runs_at_once(online: bool, env: Mapping[str, str]) -> int:
    """How many runs this host runs at once: its workers in online mode (the appliance's
    RQ_WORKER_COUNT, checked like every setting), one at a time as far as memory goes locally."""
    if not online:
        return 1
    workers = spec.by_env("RQ_WORKER_COUNT")
    raw = env.get(workers.env, "").strip()
    return int(parse(workers, raw, workers.env) if raw else workers.default)


def _check_held_below_queue(got: Mapping[str, object]) -> None:
    """One visitor's held runs must stay well below the queue's size, whatever counts them."""
    held, queued = int(got["limits.held_runs_per_client"]), int(got["queue_settings.max_queued"])
    if held >= queued:
        raise SettingsError(
            f"HELD_RUNS_PER_CLIENT (limits.held_runs_per_client) is {held}, not below QUEUE_MAX_QUEUED "
            f"(queue_settings.max_queued, {queued}): one visitor's held runs must be bounded well below "
            "the queue's size. Lower HELD_RUNS_PER_CLIENT (the default is 10) or raise QUEUE_MAX_QUEUED."
        )


def _limits(got: Mapping[str, object], runs_at_once: int) -> Limits:
    _check_held_below_queue(got)
    return Limits(
        max_upload_bytes=int(got["limits.max_upload_mb"]) * MB,
        workspace_quota_bytes=int(float(got["limits.workspace_quota_gb"]) * GB),
        min_free_bytes=int(float(got["limits.min_free_disk_gb"]) * GB),
        running_runs_per_client=int(got["limits.running_runs_per_client"]),
        held_runs_per_client=int(got["limits.held_runs_per_client"]),
        view_indexes_per_client=int(got["limits.view_indexes_per_client"]),
        run_memory_gb=float(got["limits.run_memory_gb"]),
        runs_at_once=runs_at_once,
        new_workspaces_per_client_per_hour=int(got["limits.new_workspaces_per_client_per_hour"]),
        empty_workspace_seconds=int(float(got["limits.empty_workspace_minutes"]) * 60),
        sessions_per_client=int(got["limits.sessions_per_client"]),
        admin_session_seconds=int(float(got["limits.admin_session_minutes"]) * 60),
        admin_max_failures=int(got["limits.admin_max_failures"]),
        admin_failure_window_seconds=60 * int(got["limits.admin_failure_window_minutes"]),
    )


def check_admin_password(raw: str, source: str) -> str:
    """An admin password (e.g. from Streamlit secrets) is unset, or long enough and not an example."""
    return parse_password(source, raw)


def tool_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for the tools and scripts a run starts: only what TOOL_ENV_NAMES allows,
    and TOOL_ENV_DEFAULTS where it does not say otherwise."""
    allowed = {
        name: value
        for name, value in env.items()
        if name.upper() in TOOL_ENV_NAMES or name.upper().startswith(TOOL_ENV_PREFIXES)
    }
    return {**TOOL_ENV_DEFAULTS, **allowed}


def load_for_command() -> Settings:
    """The settings for a command-line program: on a value the app cannot work with, print why
    and exit with code 2 (the usage-error code of the app's commands)."""
    try:
        return load_settings()
    except SettingsError as err:
        print(f"Error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
