"""Settings, declared once and read in one place.

``spec`` declares every setting as data (type, default, range, meaning); ``values`` checks a raw
value by its kind; ``model`` reads settings.json and the environment into typed settings;
``docs`` writes out what derives from the declaration; ``check`` is the appliance's start-up
check, ``proxies`` how much of the address space the trusted proxies' ranges hold.
``python -m src.core.settings`` is their command line (``__main__``).
"""

from src.core.errors import SettingsError
from src.core.settings.model import (
    DEFAULT_SETTINGS_FILE,
    ENV_SETTINGS_FILE,
    GB,
    MB,
    PROJECT_ROOT,
    TOOL_ENV_NAMES,
    Auth,
    Limits,
    Metrics,
    Notify,
    QueueSettings,
    Settings,
    check_admin_password,
    host_cores,
    load_for_command,
    load_settings,
    tool_environment,
)
from src.core.settings.spec import DASHBOARD_PORT, LOG_LEVELS, PRIORITIES, SETTINGS, Setting, by_env, by_key
from src.core.settings.values import check_not_example, parse, redact

__all__ = [
    "DASHBOARD_PORT",
    "DEFAULT_SETTINGS_FILE",
    "ENV_SETTINGS_FILE",
    "GB",
    "LOG_LEVELS",
    "MB",
    "PRIORITIES",
    "PROJECT_ROOT",
    "SETTINGS",
    "TOOL_ENV_NAMES",
    "Limits",
    "Auth",
    "Metrics",
    "Notify",
    "QueueSettings",
    "Setting",
    "Settings",
    "SettingsError",
    "by_env",
    "by_key",
    "check_admin_password",
    "host_cores",
    "check_not_example",
    "load_for_command",
    "load_settings",
    "parse",
    "redact",
    "tool_environment",
]
