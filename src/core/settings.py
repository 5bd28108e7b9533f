"""The one place where settings are read.

Values come from ``settings.json`` (next to ``app.py``) and can be overridden by
environment variables, which is how the container configures the app. Every
value is checked here, so a nonsense value stops the app with a message that
names the variable instead of failing somewhere deep inside a run.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "settings.json"

#: Log levels a user can pick on the Run page, from least to most detail.
LOG_LEVELS = ("minimal", "commands", "all")

#: Environment variables that override settings.json (name -> setting).
ENV_SETTINGS_FILE = "SETTINGS_FILE"
ENV_ONLINE = "ONLINE_DEPLOYMENT"
ENV_WORKSPACES_DIR = "WORKSPACES_DIR"
ENV_MAX_THREADS = "MAX_THREADS"
ENV_LOG_LEVEL = "LOG_LEVEL"

ENV_WORKSPACE_MAX_AGE = "WORKSPACE_MAX_AGE_DAYS"
ENV_REDIS_URL = "REDIS_URL"
ENV_QUEUE_ENABLED = "QUEUE_ENABLED"
ENV_QUEUE_MAX_QUEUED = "QUEUE_MAX_QUEUED"
ENV_QUEUE_JOB_TIMEOUT = "QUEUE_JOB_TIMEOUT"
ENV_QUEUE_RETRIES = "QUEUE_RETRIES"
ENV_QUEUE_RETRY_INTERVALS = "QUEUE_RETRY_INTERVALS"
ENV_ADMIN_PASSWORD = "ADMIN_PASSWORD"
ENV_DASHBOARD_ENABLED = "RQ_DASHBOARD_ENABLED"
ENV_DASHBOARD_URL = "RQ_DASHBOARD_URL"
ENV_MAX_UPLOAD_MB = "MAX_UPLOAD_MB"
ENV_WORKSPACE_QUOTA_GB = "WORKSPACE_QUOTA_GB"
ENV_MIN_FREE_DISK_GB = "MIN_FREE_DISK_GB"
ENV_MAX_RUNS_PER_CLIENT = "MAX_RUNS_PER_CLIENT"
ENV_ADMIN_SESSION_MINUTES = "ADMIN_SESSION_MINUTES"

#: Deployment secrets: never logged, never handed to the tools a run starts (see tool_environment).
SECRET_ENV_NAMES = ("ADMIN_PASSWORD", "REDIS_PASSWORD", "REDIS_URL")
#: Every variable starting with one of these is a secret too (rq-dashboard's credentials and URL).
SECRET_ENV_PREFIXES = ("RQ_DASHBOARD_",)
#: The placeholder passwords of .env.example and deploy/k8s/secrets.env.example: a deployment that
#: copied them unchanged is refused, as is anything starting with "change-me".
EXAMPLE_PASSWORDS = ("change-me-too", "change-me-to-a-long-random-string")
#: Environment variables holding passwords that get the example check.
PASSWORD_ENV_NAMES = ("ADMIN_PASSWORD", "REDIS_PASSWORD", "RQ_DASHBOARD_PASSWORD")

#: Shortest admin password accepted (from the environment or Streamlit secrets).
ADMIN_PASSWORD_MIN_LENGTH = 8

#: The port rq-dashboard listens on in the appliance.
DASHBOARD_PORT = 9181

#: Queue priorities, in the order every worker takes jobs from them.
PRIORITIES = ("high", "normal", "low")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


GB = 1024**3
MB = 1024**2


class SettingsError(ValueError):
    """A setting has a value the app cannot work with; the message says which and how to fix it."""


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
    max_runs_per_client: int  # queued-or-running runs per client address, across workspaces
    admin_session_seconds: int  # how long an admin sign-in lasts
    admin_max_failures: int  # wrong admin passwords per client within admin_failure_window ...
    admin_failure_window_seconds: int  # ... before further tries are refused unchecked


@dataclass(frozen=True)
class Settings:
    """Typed, validated application settings."""

    app_name: str
    online_deployment: bool
    workspaces_dir: Path
    max_threads_local: int
    max_threads_online: int
    log_level: str
    resource_refresh_seconds: float
    workspace_max_age_days: float  # online mode: workspaces untouched this long are removed
    cleanup_interval_seconds: int  # how often the appliance looks for such workspaces
    queue: QueueSettings
    admin_password: str  # unlocks the admin page's requeue/delete actions; "" = not from the environment
    dashboard_enabled: bool  # rq-dashboard runs beside the app (the appliance's RQ_DASHBOARD_ENABLED)
    dashboard_url: str  # where to link to it; "" = DASHBOARD_PORT on the host the visitor used
    limits: Limits
    source: Path

    @property
    def max_threads(self) -> int:
        """Threads a single run may use in the current mode."""
        return self.max_threads_online if self.online_deployment else self.max_threads_local

    @property
    def mode(self) -> str:
        return "online" if self.online_deployment else "local"


def parse_bool(name: str, raw: object) -> bool:
    """Accept JSON booleans and the usual spellings of true/false in environment variables."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise SettingsError(f"{name} must be true or false, got {raw!r}. Set it to 'true' or 'false'.")


def parse_int(name: str, raw: object, minimum: int, maximum: int) -> int:
    """Parse a whole number within [minimum, maximum] or explain what is wrong."""
    if isinstance(raw, bool):
        raise SettingsError(f"{name} must be a whole number, got {raw!r}.")
    try:
        value = int(str(raw).strip())
    except ValueError:
        raise SettingsError(
            f"{name} must be a whole number between {minimum} and {maximum}, got {raw!r}."
        ) from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}.")
    return value


def parse_float(name: str, raw: object, minimum: float, maximum: float) -> float:
    """Parse a number within [minimum, maximum] or explain what is wrong."""
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}.") from None
    if not minimum <= value <= maximum:
        raise SettingsError(f"{name} must be between {minimum} and {maximum}, got {value}.")
    return value


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


def _pick(data: Mapping, env: Mapping[str, str], key: str, env_name: str, default: object) -> object:
    """Environment beats settings.json beats the built-in default; empty env values are ignored."""
    raw = env.get(env_name)
    if raw is not None and raw.strip() != "":
        return raw
    return data.get(key, default)


def _threads(data: Mapping, env: Mapping[str, str]) -> tuple[int, int]:
    raw = data.get("max_threads", {})
    if not isinstance(raw, Mapping):
        raise SettingsError("max_threads in settings.json must be an object with 'local' and 'online'.")
    local = parse_int("max_threads.local", raw.get("local", 2), 1, 256)
    online = parse_int("max_threads.online", raw.get("online", 1), 1, 256)
    override = env.get(ENV_MAX_THREADS, "").strip()
    if override:
        value = parse_int(ENV_MAX_THREADS, override, 1, 256)
        return value, value
    return local, online


def _log_level(raw: object, name: str) -> str:
    text = str(raw).strip().lower()
    if text not in LOG_LEVELS:
        raise SettingsError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}.")
    return text


def _intervals(raw: object) -> tuple[int, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise SettingsError(f"retry intervals must be a list of seconds, got {raw!r}.")
    return tuple(parse_int("retry interval", item, 0, 86400) for item in items if str(item).strip())


def _queue_names(raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping) or set(raw) != set(PRIORITIES):
        raise SettingsError(f"queue_settings.queues must name one queue for each of {', '.join(PRIORITIES)}.")
    names = {p: str(raw[p]).strip() for p in PRIORITIES}
    if len(set(names.values())) != 3 or not all(names.values()):
        raise SettingsError("queue_settings.queues needs three different, non-empty queue names.")
    return names


def _queue_settings(data: Mapping, env: Mapping[str, str]) -> QueueSettings:
    raw = data.get("queue_settings", {})
    if not isinstance(raw, Mapping):
        raise SettingsError("queue_settings in settings.json must be an object.")

    def pick(key: str, env_name: str | None, default: object) -> object:
        return _pick(raw, env, key, env_name, default) if env_name else raw.get(key, default)

    url = str(pick("redis_url", ENV_REDIS_URL, "redis://127.0.0.1:6379/0")).strip()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{ENV_REDIS_URL} must start with redis://, rediss:// or unix://, got {url!r}.")
    return QueueSettings(
        enabled=parse_bool(ENV_QUEUE_ENABLED, pick("enabled", ENV_QUEUE_ENABLED, True)),
        redis_url=url,
        queue_names=_queue_names(
            raw.get("queues", {"high": "openms-high", "normal": "openms-normal", "low": "openms-low"})
        ),
        job_timeout=parse_int(
            ENV_QUEUE_JOB_TIMEOUT, pick("job_timeout", ENV_QUEUE_JOB_TIMEOUT, 7200), 10, 7 * 86400
        ),
        result_ttl=parse_int("queue_settings.result_ttl", pick("result_ttl", None, 604800), 60, 365 * 86400),
        failure_ttl=parse_int(
            "queue_settings.failure_ttl", pick("failure_ttl", None, 604800), 60, 365 * 86400
        ),
        retries=parse_int(ENV_QUEUE_RETRIES, pick("retries", ENV_QUEUE_RETRIES, 1), 0, 10),
        retry_intervals=_intervals(pick("retry_intervals", ENV_QUEUE_RETRY_INTERVALS, [5])),
        max_queued=parse_int(ENV_QUEUE_MAX_QUEUED, pick("max_queued", ENV_QUEUE_MAX_QUEUED, 50), 1, 100000),
        connect_timeout=parse_float(
            "queue_settings.connect_timeout", pick("connect_timeout", None, 2), 0.1, 60
        ),
        socket_timeout=parse_float(
            "queue_settings.socket_timeout", pick("socket_timeout", None, 5), 0.1, 300
        ),
        job_monitoring_interval=parse_int(
            "queue_settings.job_monitoring_interval", pick("job_monitoring_interval", None, 10), 1, 600
        ),
        heartbeat_grace=parse_int(
            "queue_settings.heartbeat_grace", pick("heartbeat_grace", None, 10), 1, 600
        ),
        maintenance_interval=parse_int(
            "queue_settings.maintenance_interval", pick("maintenance_interval", None, 15), 1, 3600
        ),
        worker_ttl=parse_int("queue_settings.worker_ttl", pick("worker_ttl", None, 35), 20, 3600),
    )


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings.json and apply environment overrides; raise SettingsError on bad values."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env.get(ENV_SETTINGS_FILE) or DEFAULT_SETTINGS_FILE)
    path = Path(path).resolve()
    data = _read_json(path)
    _check_passwords(env)
    online = parse_bool(ENV_ONLINE, _pick(data, env, "online_deployment", ENV_ONLINE, False))
    workspaces = Path(str(_pick(data, env, "workspaces_dir", ENV_WORKSPACES_DIR, "workspaces")))
    if not workspaces.is_absolute():
        workspaces = path.parent / workspaces
    local_threads, online_threads = _threads(data, env)
    return Settings(
        app_name=str(data.get("app_name", "OpenMS Workflow Server")),
        online_deployment=online,
        workspaces_dir=workspaces,
        max_threads_local=local_threads,
        max_threads_online=online_threads,
        log_level=_log_level(_pick(data, env, "log_level", ENV_LOG_LEVEL, "commands"), "log_level"),
        resource_refresh_seconds=parse_float(
            "resource_refresh_seconds", data.get("resource_refresh_seconds", 5), 1, 3600
        ),
        workspace_max_age_days=parse_float(
            ENV_WORKSPACE_MAX_AGE,
            _pick(data, env, "workspace_max_age_days", ENV_WORKSPACE_MAX_AGE, 7),
            0.001,
            3650,
        ),
        cleanup_interval_seconds=parse_int(
            "cleanup_interval_seconds", data.get("cleanup_interval_seconds", 3600), 10, 7 * 86400
        ),
        queue=_queue_settings(data, env),
        admin_password=check_admin_password(env.get(ENV_ADMIN_PASSWORD, ""), ENV_ADMIN_PASSWORD),
        dashboard_enabled=parse_bool(
            ENV_DASHBOARD_ENABLED, env.get(ENV_DASHBOARD_ENABLED, "false") or "false"
        ),
        dashboard_url=_dashboard_url(env.get(ENV_DASHBOARD_URL, "")),
        limits=_limits(data, env),
        source=path,
    )


def _limits(data: Mapping, env: Mapping[str, str]) -> Limits:
    raw = data.get("limits", {})
    if not isinstance(raw, Mapping):
        raise SettingsError("limits in settings.json must be an object.")

    def pick(key: str, env_name: str | None, default: object) -> object:
        return _pick(raw, env, key, env_name, default) if env_name else raw.get(key, default)

    upload_mb = parse_int(ENV_MAX_UPLOAD_MB, pick("max_upload_mb", ENV_MAX_UPLOAD_MB, 2048), 1, 1024**2)
    quota_gb = parse_float(
        ENV_WORKSPACE_QUOTA_GB, pick("workspace_quota_gb", ENV_WORKSPACE_QUOTA_GB, 10), 0.001, 1024**2
    )
    free_gb = parse_float(ENV_MIN_FREE_DISK_GB, pick("min_free_disk_gb", ENV_MIN_FREE_DISK_GB, 2), 0, 1024**2)
    session_minutes = parse_float(
        ENV_ADMIN_SESSION_MINUTES, pick("admin_session_minutes", ENV_ADMIN_SESSION_MINUTES, 30), 0.1, 24 * 60
    )
    return Limits(
        max_upload_bytes=upload_mb * MB,
        workspace_quota_bytes=int(quota_gb * GB),
        min_free_bytes=int(free_gb * GB),
        max_runs_per_client=parse_int(
            ENV_MAX_RUNS_PER_CLIENT, pick("max_runs_per_client", ENV_MAX_RUNS_PER_CLIENT, 3), 1, 10000
        ),
        admin_session_seconds=int(session_minutes * 60),
        admin_max_failures=parse_int(
            "limits.admin_max_failures", pick("admin_max_failures", None, 5), 1, 1000
        ),
        admin_failure_window_seconds=60
        * parse_int(
            "limits.admin_failure_window_minutes", pick("admin_failure_window_minutes", None, 10), 1, 24 * 60
        ),
    )


def check_admin_password(raw: str, source: str) -> str:
    """An admin password is either unset ("") or long enough to be worth having, and not an example."""
    password = raw.strip()
    if password and len(password) < ADMIN_PASSWORD_MIN_LENGTH:
        raise SettingsError(
            f"{source} must be at least {ADMIN_PASSWORD_MIN_LENGTH} characters long "
            "(or unset, which keeps the admin actions locked)."
        )
    check_not_example(source, password)
    return password


def check_not_example(source: str, password: str) -> None:
    """Refuse the placeholder passwords of the example files: they are public."""
    text = password.strip().lower()
    if text in EXAMPLE_PASSWORDS or text.startswith("change-me"):
        raise SettingsError(
            f"{source} is still the example value from .env.example / secrets.env.example, which anyone "
            "can read. Set a long random password of your own (e.g. from `openssl rand -hex 16`)."
        )


def _check_passwords(env: Mapping[str, str]) -> None:
    """The deployment's other passwords (Redis, rq-dashboard) are checked here too, so the entrypoint's
    settings check refuses an example password before anything starts."""
    for name in PASSWORD_ENV_NAMES:
        if env.get(name):
            check_not_example(name, env[name])


def tool_environment(env: Mapping[str, str]) -> dict[str, str]:
    """The environment for the tools and scripts a run starts: the deployment's secrets removed."""
    return {
        name: value
        for name, value in env.items()
        if name not in SECRET_ENV_NAMES and not name.startswith(SECRET_ENV_PREFIXES)
    }


def _dashboard_url(raw: str) -> str:
    url = raw.strip()
    if url and not url.startswith(("http://", "https://", "/")):
        raise SettingsError(f"{ENV_DASHBOARD_URL} must be an http(s) URL or a path, got {raw!r}.")
    return url
