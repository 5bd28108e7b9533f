"""Every setting, declared once, as data: where it lives, its type, default, range and meaning.

Everything else is derived from :data:`SETTINGS`: loading and checking
(``src/core/settings/model.py``), the appliance's start-up check that ``entrypoint.sh``
calls (``python -m src.core.settings --check``), ``settings.json``, the settings
tables in README.md and docs/appliance.md and ``.env.example``
(``python -m src.core.settings --write-docs``; a test fails when any of them is stale).

A setting's ``where`` says who reads it: ``app`` settings are read by the app and its
workers from ``settings.json`` (``key``) and/or the environment (``env``);
``appliance`` settings are the container's environment, checked at its start;
``compose`` settings are read by docker-compose only.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Log levels a user can pick on the Run page, from least to most detail.
LOG_LEVELS = ("minimal", "commands", "all")
LOG_FORMATS = ("text", "json")
#: How visitors are known: by their workspace link only, or signed in with OpenID Connect.
AUTH_MODES = ("anonymous", "oidc")
#: What OIDC_PROMPT may ask the provider for (OpenID Connect Core 3.1.2.1); "": no prompt is sent.
OIDC_PROMPTS = ("", "none", "login", "consent", "select_account")
#: Queue priorities, in the order every worker takes jobs from them.
PRIORITIES = ("high", "normal", "low")
#: Shortest admin or dashboard password accepted.
PASSWORD_MIN_LENGTH = 8
#: The port rq-dashboard listens on in the appliance.
DASHBOARD_PORT = 9181


@dataclass(frozen=True)
class Setting:
    key: str  # dotted path in settings.json ("queue_settings.job_timeout"); "" = environment only
    env: str  # environment variable ("" = settings.json only)
    kind: str  # bool, int, float, str, str_list, choice, path, redis_url, link, int_list, queue_names, password, secret, proxy_list
    default: object
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()
    where: str = "app"  # app, appliance or compose (see the module's docstring)
    hint: str = ""  # said after a range error (what happens at that value, what to do instead)
    announce_default: bool = False  # the appliance says so when it falls back to the default

    @property
    def name(self) -> str:
        """How messages and tables call it: its settings.json key, else its variable."""
        return self.key or self.env


def _app(key: str, env: str, kind: str, default: object, help: str, **more) -> Setting:
    return Setting(key, env, kind, default, help, **more)


def _appliance(env: str, kind: str, default: object, help: str, **more) -> Setting:
    return Setting("", env, kind, default, help, where="appliance", **more)


SETTINGS: tuple[Setting, ...] = (
    # ---- the app -------------------------------------------------------------------------------
    _app("app_name", "", "str", "OpenMS Workflow Server", "title shown in the app and the browser tab"),
    _app("online_deployment", "ONLINE_DEPLOYMENT", "bool", False, "`true`: random private workspaces per visitor, runs through the queue"),
    _app("workspaces_dir", "WORKSPACES_DIR", "path", "workspaces", "where workspaces live (relative to settings.json)"),
    _app("max_threads.local", "MAX_THREADS", "int", 2, "threads one run may use (parallel tool runs and `-threads`) in local mode; `MAX_THREADS` sets both modes", low=1, high=256),
    _app("max_threads.online", "MAX_THREADS", "int", 0, "threads one run may use in online mode: its pieces run in its own job side by side, a lone tool gets `-threads`; 0: this host's cores (as the container may use them) divided by RQ_WORKER_COUNT, at least 1", low=0, high=256),
    _app("log_format", "LOG_FORMAT", "choice", "text", "how the server's processes write their log lines: `text`, or `json` (one object per line, for Loki or ELK)", choices=LOG_FORMATS),
    _app("log_level", "LOG_LEVEL", "choice", "commands", "log detail shown first on the Run page", choices=LOG_LEVELS),
    _app("resource_refresh_seconds", "", "float", 5, "how often the sidebar's CPU/RAM and queue monitors refresh (s)", low=1, high=3600),
    _app("workspace_max_age_days", "WORKSPACE_MAX_AGE_DAYS", "float", 7, "online mode: workspaces untouched this long are removed (never one with an active run)", low=0.001, high=3650),
    _app("cleanup_interval_seconds", "", "int", 3600, "how often the appliance looks for such workspaces (s)", low=10, high=7 * 86400),
    _app("workflows", "WORKFLOWS", "str_list", (), "ids of the workflows the app offers, in the order of its navigation, the first one first (comma-separated; `python -m src.workflows` lists the installed ones); empty: every installed workflow"),
    _app("protein_databases_dir", "PROTEIN_DATABASES_DIR", "path", "/usr/share/doc/openms/examples/TOPPAS/data/BSA_Identification", "the Peptides and proteins workflow offers the FASTA files (`*.fasta`) in this folder as protein databases, besides those a visitor uploads (relative to settings.json; the tools must be able to read it); a missing folder offers none"),
    _app("runs_kept", "RUNS_KEPT", "int", 10, "runs kept per workspace for the run history, the latest included; the oldest ended run is removed first", low=1, high=1000),
    # ---- notifications when a run ends (off unless set; docs/notifications.md) --------------------
    _app("public_url", "PUBLIC_URL", "link", "", "the app's address as visitors reach it (e.g. `https://openms.example.org`), for the workspace link in notifications"),
    _app("notify.webhook_url", "NOTIFY_WEBHOOK_URL", "http_url", "", "every run's end is POSTed here as JSON (state, duration, workspace link); unset: no webhook"),
    _app("notify.smtp_host", "SMTP_HOST", "str", "", "mail server for the e-mail a visitor may ask for when a run ends (needs SMTP_FROM and PUBLIC_URL); unset: no e-mail"),
    _app("notify.smtp_port", "SMTP_PORT", "int", 587, "the mail server's port", low=1, high=65535),
    _app("notify.smtp_starttls", "SMTP_STARTTLS", "bool", True, "`true`: the connection to the mail server is encrypted with STARTTLS, its certificate verified (required with SMTP_USER)"),
    _app("notify.smtp_ca_file", "SMTP_CA_FILE", "path", "", "PEM file with the certificate of the CA that signed the mail server's certificate (e.g. an institute's own CA), trusted besides the system's CAs; unset: the system's CAs only"),
    _app("notify.smtp_user", "SMTP_USER", "str", "", "login at the mail server; unset: no login"),
    _app("", "SMTP_PASSWORD", "password", "", "password of SMTP_USER (a secret: never shown, never handed to the tools)"),
    _app("notify.smtp_from", "SMTP_FROM", "str", "", "sender address of the e-mails (required with SMTP_HOST)"),
    _app("notify.mails_per_address_per_hour", "MAILS_PER_ADDRESS_PER_HOUR", "int", 5, "e-mails (confirmation codes included) sent to one address per hour, from all workspaces; more are not sent", low=1, high=1000),
    _app("notify.mails_per_workspace_per_hour", "MAILS_PER_WORKSPACE_PER_HOUR", "int", 10, "e-mails (confirmation codes included) one workspace may cause per hour", low=1, high=1000),
    _app("notify.code_mails_per_client_per_hour", "CODE_MAILS_PER_CLIENT_PER_HOUR", "int", 30, "confirmation codes one client address (or signed-in person) may have mailed per hour, across workspaces (a class behind one address must fit); more are not sent", low=1, high=10000),
    _app("notify.confirm_minutes", "", "int", 30, "how long the code that confirms an e-mail address is valid (min)", low=1, high=24 * 60),
    # ---- what one visitor may use (docs/security.md) ---------------------------------------------
    _app("limits.max_upload_mb", "MAX_UPLOAD_MB", "int", 2048, "largest single upload (MB)", low=1, high=1024**2),
    _app("limits.workspace_quota_gb", "WORKSPACE_QUOTA_GB", "float", 10, "space one workspace may take: inputs, results, logs (GB)", low=0.001, high=1024**2),
    _app("limits.min_free_disk_gb", "MIN_FREE_DISK_GB", "float", 2, "uploads and new runs are refused while the workspaces volume has less free (GB)", low=0, high=1024**2),
    _app("limits.running_runs_per_client", "RUNNING_RUNS_PER_CLIENT", "int", 3, "runs of one client address (across workspaces) started at once; its further runs are held and start by themselves", low=1, high=10000),
    _app("limits.held_runs_per_client", "HELD_RUNS_PER_CLIENT", "int", 10, "runs of one client address held at once (beyond its running share; they count against it alone, never toward QUEUE_MAX_QUEUED); a start beyond is refused; 0: none held; must be below QUEUE_MAX_QUEUED", low=0, high=100000),
    _app("limits.view_indexes_per_client", "VIEW_INDEXES_PER_CLIENT", "int", 2, "raw data viewer: files of one client address whose index is being built (queued or running) at once; a further file waits with a message until one is done", low=1, high=1000),
    _app("limits.run_memory_gb", "RUN_MEMORY_GB", "float", 0, "memory (address space) each tool or script of a run may use (GB); 0: the container's memory limit, or the machine's memory, divided by RQ_WORKER_COUNT (online mode), at least 1 GB", low=0, high=1024**2),
    _app("limits.new_workspaces_per_client_per_hour", "NEW_WORKSPACES_PER_CLIENT_PER_HOUR", "int", 100, "online mode: new workspaces one client address may make per hour (a class behind one address must fit)", low=1, high=100000),
    _app("limits.sessions_per_client", "SESSIONS_PER_CLIENT", "int", 60, "open pages (browser tabs, each a websocket session) of one client address on each web server; more wait with a message until one closes (a class of 30 behind one address, two tabs each, fits)", low=1, high=100000),
    _app("limits.empty_workspace_minutes", "EMPTY_WORKSPACE_MINUTES", "float", 60, "online mode: a workspace nothing was ever put in is removed this long after it was made (min)", low=1, high=7 * 24 * 60),
    _app("limits.admin_session_minutes", "ADMIN_SESSION_MINUTES", "float", 30, "how long an admin sign-in lasts (min)", low=0.1, high=24 * 60),
    _app("limits.admin_max_failures", "", "int", 5, "wrong admin passwords per client address before further tries are refused unchecked", low=1, high=1000),
    _app("limits.admin_failure_window_minutes", "", "int", 10, "the time window of admin_max_failures (min)", low=1, high=24 * 60),
    # ---- the job queue (docs/queue.md) -------------------------------------------------------------
    _app("queue_settings.enabled", "QUEUE_ENABLED", "bool", True, "`false`: online mode runs every workflow as a local process"),
    _app("queue_settings.redis_url", "REDIS_URL", "redis_url", "redis://127.0.0.1:6379/0", "where Redis is"),
    _app("queue_settings.queues", "", "queue_names", {"high": "openms-high", "normal": "openms-normal", "low": "openms-low"}, "RQ queue name for each priority"),
    _app("queue_settings.job_timeout", "QUEUE_JOB_TIMEOUT", "int", 7200, "seconds one run may take", low=10, high=7 * 86400),
    _app("queue_settings.result_ttl", "", "int", 604800, "seconds a finished job stays in Redis (logs stay in the workspace)", low=60, high=365 * 86400),
    _app("queue_settings.failure_ttl", "", "int", 604800, "seconds a failed job stays in Redis", low=60, high=365 * 86400),
    _app("queue_settings.retries", "QUEUE_RETRIES", "int", 1, "extra attempts for a job whose worker was lost", low=0, high=10),
    _app("queue_settings.retry_intervals", "QUEUE_RETRY_INTERVALS", "int_list", (5,), "seconds before each retry (`5,30` in the environment)", low=0, high=86400),
    _app("queue_settings.max_queued", "QUEUE_MAX_QUEUED", "int", 50, "Start is refused when this many runs wait for a worker (held runs not counted)", low=1, high=100000),
    _app("queue_settings.connect_timeout", "", "float", 2, "the app's Redis connect timeout (s)", low=0.1, high=60),
    _app("queue_settings.socket_timeout", "", "float", 5, "the app's Redis socket timeout (s)", low=0.1, high=300),
    _app("queue_settings.job_monitoring_interval", "", "int", 10, "seconds between a busy worker's heartbeats", low=1, high=600),
    _app("queue_settings.heartbeat_grace", "", "int", 10, "seconds a missed heartbeat is tolerated", low=1, high=600),
    _app("queue_settings.maintenance_interval", "", "int", 15, "seconds between a worker's clean-up passes", low=1, high=3600),
    _app("queue_settings.worker_ttl", "", "int", 35, "lifetime of an idle worker's registration between heartbeats (s)", low=20, high=3600),
    _app("queue_settings.spread", "QUEUE_SPREAD", "bool", True, "a step over several files becomes one queue job per file, taken by any free worker"),
    _app("queue_settings.threads_per_piece", "THREADS_PER_PIECE", "int", 1, "`-threads` of the tool in each such job", low=1, high=256),
    _app("queue_settings.lend_idle_workers", "QUEUE_LEND_IDLE_WORKERS", "bool", True, "a step that stays one command (linking, a quantification) also gets the threads of its host's idle workers when nothing waits for one; they take no job until that step ends"),
    _app("", "ADMIN_PASSWORD", "password", "", "signs the administrator in on the Queue admin page (job details, requeue/delete); unset: no sign-in"),
    _app("", "RQ_DASHBOARD_ENABLED", "bool", False, "rq-dashboard runs on port 9181 (needs its username and password); the admin page links to it"),
    _app("metrics.enabled", "METRICS_ENABLED", "bool", False, "`true`: Prometheus metrics at `/metrics` on the app's port (docs/operations.md)"),
    _app("", "METRICS_TOKEN", "password", "", "bearer token Prometheus must send for `/metrics` (a secret: never shown, never handed to the tools); unset: none asked"),
    _app("auth.mode", "AUTH_MODE", "choice", "anonymous", "`anonymous`: the workspace link is the key to a workspace; `oidc`: every page asks to sign in with the institute's OpenID Connect provider, workspaces belong to a person (docs/sign-in.md)", choices=AUTH_MODES),
    _app("auth.metadata_url", "OIDC_METADATA_URL", "http_url", "", "oidc mode: the provider's discovery document, e.g. `https://id.example.org/realms/lab/.well-known/openid-configuration`"),
    _app("auth.client_id", "OIDC_CLIENT_ID", "str", "", "oidc mode: this server's client id at the provider"),
    _app("auth.prompt", "OIDC_PROMPT", "choice", "", "oidc mode: the `prompt` the sign-in asks the provider for: `none`, `login`, `consent` or `select_account` (many providers refuse values they do not support); unset: none is sent", choices=OIDC_PROMPTS),
    _app("", "OIDC_CLIENT_SECRET", "password", "", "oidc mode: its client secret (a secret: never shown, never handed to the tools)"),
    _app("", "AUTH_COOKIE_SECRET", "password", "", "oidc mode: signs the sign-in cookie, the same on every web server: 32 or more random characters (a secret)"),
    _app("auth.admin_users", "ADMIN_USERS", "str_list", (), "oidc mode: e-mail addresses (only when the provider says `email_verified`), or values of the `groups`/`roles` claims, that open the Queue admin page's details (comma-separated)"),
    _app("", "RQ_DASHBOARD_URL", "link", "", "where the admin page links to rq-dashboard; unset: port 9181 of the host in the browser's address bar"),
    # ---- the container (entrypoint.sh checks these at start) -------------------------------------
    _appliance("ROLE", "choice", "appliance", "`worker` (or the command `worker`) runs workers only, for scale-out (docs/scale-out.md)", choices=("appliance", "worker")),
    _appliance("RQ_WORKER_COUNT", "int", 2, "RQ workers, i.e. runs at the same time", low=1, high=32, announce_default=True, hint="Without workers no run would ever start; to run workflows without the queue set QUEUE_ENABLED=false."),
    _appliance("STREAMLIT_SERVER_COUNT", "int", 1, "web servers (Streamlit processes) behind the appliance's HAProxy on port 8501; sessions stick to one by cookie", low=1, high=16),
    _appliance("WORKER_STOP_WAIT", "int", 60, "seconds a running job gets to end when the container stops, before its worker is killed (keep below compose's stop_grace_period, 90 s)", low=1, high=99999),
    _appliance("SCALE_OUT", "bool", False, "Redis also listens on the container network for worker containers (needs REDIS_PASSWORD)"),
    _appliance("REDIS_PASSWORD", "secret", "", "password of the appliance's Redis: 16 or more letters, digits or `. _ ~ -`; unset: the appliance generates one at its first start and keeps it in REDIS_PASSWORD_FILE"),
    _appliance("REDIS_PASSWORD_FILE", "str", "", "where the generated Redis password is kept (the image: `/data/redis/password`, readable by the app's user only); the app's processes and `docker exec` commands read it when REDIS_URL names no password"),
    _appliance("RQ_DASHBOARD_USERNAME", "str", "", "rq-dashboard's username (required when it is enabled)"),
    _appliance("RQ_DASHBOARD_PASSWORD", "password", "", "rq-dashboard's password (required when it is enabled)"),
    _appliance("FORWARDED_ALLOW_IPS", "proxy_list", "", "behind a reverse proxy or ingress: its address(es) or range(s), e.g. `10.0.0.0/8`; only from them is X-Forwarded-For believed (docs/security.md); unset: from nobody"),
    Setting("", "APP_PORT", "int", 8501, "host port of the app", low=1, high=65535, where="compose"),
    Setting("", "RQ_DASHBOARD_PORT", "int", DASHBOARD_PORT, "host port of rq-dashboard", low=1, high=65535, where="compose"),
)  # fmt: skip


def by_key(key: str) -> Setting:
    return next(s for s in SETTINGS if s.key == key)


def by_env(env: str) -> Setting:
    """The setting an environment variable sets (the first, for MAX_THREADS)."""
    return next(s for s in SETTINGS if s.env == env)
