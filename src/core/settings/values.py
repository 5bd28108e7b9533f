"""Turning a raw setting (a JSON value or an environment string) into a checked value, by kind.

Every message names the setting as the user wrote it (the environment variable when the
value came from there, else the settings.json key) and says what would be accepted.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping

from src.core.errors import SettingsError
from src.core.settings import proxies
from src.core.settings.spec import PASSWORD_MIN_LENGTH, PRIORITIES, Setting

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
#: The placeholder passwords of .env.example and deploy/k8s/secrets.env.example: a deployment that
#: copied them unchanged is refused, as is anything starting with "change-me".
EXAMPLE_PASSWORDS = ("change-me-too", "change-me-to-a-long-random-string")
#: A Redis password goes into redis:// URLs, so it keeps to URL-safe characters.
_URL_SAFE = re.compile(r"^[A-Za-z0-9._~-]+$")
REDIS_PASSWORD_MIN_LENGTH = 16


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


def _convert(raw: object, cast: type, refusal: str) -> float:
    """``cast(raw)`` (int or float), or SettingsError(refusal); true/false is not a number."""
    try:
        if isinstance(raw, bool):
            raise ValueError
        return cast(str(raw).strip())
    except ValueError:
        raise SettingsError(refusal) from None


def parse_int(name: str, raw: object, low: float, high: float, hint: str = "") -> int:
    """A whole number within [low, high], or a message that says the range."""
    low, high = int(low), int(high)
    value = _convert(raw, int, f"{name} must be a whole number from {low} to {high}, got {raw!r}.")
    if not low <= value <= high:
        message = f"{name} must be from {low} to {high}, got {value}: use a value between {low} and {high}."
        raise SettingsError(f"{message} {hint}".strip())
    return int(value)


def parse_float(name: str, raw: object, low: float, high: float) -> float:
    """A number within [low, high], or a message that says the range."""
    value = _convert(raw, float, f"{name} must be a number, got {raw!r}.")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, got {value:g}.")
    return value


def check_not_example(name: str, password: str) -> None:
    """Refuse the placeholder passwords of the example files: they are public."""
    text = password.strip().lower()
    if text in EXAMPLE_PASSWORDS or text.startswith("change-me"):
        raise SettingsError(
            f"{name} is still the example value from .env.example / secrets.env.example, which anyone "
            "can read. Set a long random password of your own (e.g. from `openssl rand -hex 16`)."
        )


def parse_password(name: str, raw: object) -> str:
    """Unset (""), or long enough to be worth having and not an example."""
    password = str(raw).strip()
    if password and len(password) < PASSWORD_MIN_LENGTH:
        raise SettingsError(
            f"{name} must be at least {PASSWORD_MIN_LENGTH} characters long (or unset, which turns "
            "off what it protects)."
        )
    if password:
        check_not_example(name, password)
    return password


def _secret(name: str, raw: object) -> str:
    password = str(raw)
    if not password:
        return ""
    if not _URL_SAFE.match(password):
        raise SettingsError(
            f"{name} may only contain letters, digits and . _ ~ - (it goes into redis:// URLs)."
        )
    if len(password) < REDIS_PASSWORD_MIN_LENGTH:
        raise SettingsError(f"{name} must be at least {REDIS_PASSWORD_MIN_LENGTH} characters long.")
    check_not_example(name, password)
    return password


def _choice(setting: Setting, name: str, raw: object) -> str:
    text = str(raw).strip().lower()
    if text not in setting.choices:
        allowed = ", ".join(choice or "empty" for choice in setting.choices)
        raise SettingsError(f"{name} must be one of {allowed}, got {raw!r}.")
    return text


def redact(url: str) -> str:
    """A URL without its password, for messages and logs (``redis://***@host:6379/0``)."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.rpartition('@')[2]}"


def _redis_url(name: str, raw: object) -> str:
    url = str(raw).strip()
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(f"{name} must start with redis://, rediss:// or unix://, got {url!r}.")
    return url


def _link(name: str, raw: object) -> str:
    url = str(raw).strip()
    if url and not url.startswith(("http://", "https://", "/")):
        raise SettingsError(f"{name} must be an http(s) URL or a path, got {raw!r}.")
    return url


def _http_url(name: str, raw: object) -> str:
    url = str(raw).strip()
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"{name} must be an http:// or https:// URL, got {raw!r}.")
    return url


def _int_list(setting: Setting, raw: object) -> tuple[int, ...]:
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise SettingsError(f"{setting.name} must be a list of seconds, got {raw!r}.")
    return tuple(
        parse_int("retry interval", item, setting.low or 0, setting.high or 0)
        for item in items
        if str(item).strip()
    )


def _str_list(name: str, raw: object) -> tuple[str, ...]:
    """Comma-separated words (or a JSON list), stripped, empty ones left out."""
    items = str(raw).split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list | tuple):
        raise SettingsError(f"{name} must be a comma-separated list, got {raw!r}.")
    return tuple(text for item in items if (text := str(item).strip()))


def _trusts_anyone(name: str, shown: str, why: str = "") -> SettingsError:
    return SettingsError(
        f"{name}={shown} would believe an X-Forwarded-For header from anyone{why}, so every visitor could "
        "name any client address and get past the per-visitor limits. Set the address or range of your "
        "reverse proxy or ingress instead, e.g. 10.0.0.0/8 (docs/security.md)."
    )


def _proxy_list(name: str, raw: object) -> tuple[str, ...]:
    """Addresses or ranges of trusted outer proxies, comma- or space-separated; ``*``, and any list
    that covers every IPv4 or every IPv6 address as ``*`` would, is refused."""
    items = [item for item in re.split(r"[,\s]+", str(raw).strip()) if item]
    if "*" in items:
        raise _trusts_anyone(name, "*")
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise SettingsError(
                f"{name} must list IP addresses or ranges (e.g. 10.0.0.0/8, 172.18.0.1), got {item!r}."
            ) from None
    if family := proxies.covered_families(networks):
        raise _trusts_anyone(name, " ".join(items), f" (the list holds every {family} address)")
    return tuple(str(network) for network in networks)


def _queue_names(name: str, raw: object) -> dict[str, str]:
    if not isinstance(raw, Mapping) or set(raw) != set(PRIORITIES):
        raise SettingsError(f"{name} must name one queue for each of {', '.join(PRIORITIES)}.")
    names = {p: str(raw[p]).strip() for p in PRIORITIES}
    if len(set(names.values())) != 3 or not all(names.values()):
        raise SettingsError(f"{name} needs three different, non-empty queue names.")
    return names


def parse(setting: Setting, raw: object, name: str | None = None) -> object:
    """The checked value of ``setting`` from ``raw``; ``name`` is where the value came from."""
    name = name or setting.name
    parser = _PARSERS.get(setting.kind)
    return parser(setting, name, raw) if parser else str(raw)  # str and path


_PARSERS = {
    "bool": lambda s, name, raw: parse_bool(name, raw),
    "int": lambda s, name, raw: parse_int(name, raw, s.low, s.high, s.hint),
    "float": lambda s, name, raw: parse_float(name, raw, s.low, s.high),
    "choice": _choice,
    "redis_url": lambda s, name, raw: _redis_url(name, raw),
    "link": lambda s, name, raw: _link(name, raw),
    "http_url": lambda s, name, raw: _http_url(name, raw),
    "int_list": lambda s, name, raw: _int_list(s, raw),
    "str_list": lambda s, name, raw: _str_list(name, raw),
    "queue_names": lambda s, name, raw: _queue_names(name, raw),
    "proxy_list": lambda s, name, raw: _proxy_list(name, raw),
    "password": lambda s, name, raw: parse_password(name, raw),
    "secret": lambda s, name, raw: _secret(name, raw),
}
