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

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting has a value the app cannot work with; the message says which and how to fix it."""


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


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read settings.json and apply environment overrides; raise SettingsError on bad values."""
    env = os.environ if env is None else env
    if path is None:
        path = Path(env.get(ENV_SETTINGS_FILE) or DEFAULT_SETTINGS_FILE)
    path = Path(path).resolve()
    data = _read_json(path)
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
        source=path,
    )
