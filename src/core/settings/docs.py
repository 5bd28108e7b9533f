"""What is generated from the settings declaration: settings.json, the settings tables in
README.md and docs/appliance.md, and .env.example (``python -m src.core.settings --write-docs``).

A test regenerates each of them in memory and fails when the committed file differs.
"""

from __future__ import annotations

import json
from pathlib import Path

from src.core.settings import spec
from src.core.settings.spec import Setting

BEGIN = "<!-- BEGIN generated from src/core/settings/spec.py (python -m src.core.settings --write-docs) -->"
END = "<!-- END generated -->"
COMPOSE_BEGIN = "# BEGIN generated from src/core/settings/spec.py (python -m src.core.settings --write-docs)"
COMPOSE_END = "# END generated"
#: Set by the Dockerfile for the appliance; compose leaves them alone (empty would mean the default).
IMAGE_ENV = ("ONLINE_DEPLOYMENT", "WORKSPACES_DIR", "REDIS_URL")
#: Files with a generated table, and which settings (by ``where``) each table lists.
TABLES = {"README.md": ("app",), "docs/appliance.md": ("appliance", "compose")}


def shown_default(setting: Setting) -> str:
    value = setting.default
    if setting.kind == "bool":
        return f"`{str(value).lower()}`"
    if setting.kind == "queue_names":
        return "`" + "`, `".join(value.values()) + "`"
    if setting.kind == "int_list":
        return ",".join(str(v) for v in value)
    if value in ("", None, ()):
        return "unset"
    return f"`{value}`" if isinstance(value, str) else _number(value)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _allowed(setting: Setting) -> str:
    if setting.choices:
        return ", ".join(f"`{c}`" if c else "unset" for c in setting.choices)
    if setting.low is not None and setting.high is not None:
        return f"{_number(setting.low)} to {_number(setting.high)}"
    return ""


def table(where: tuple[str, ...]) -> str:
    """The app's settings (with their settings.json keys), or the container's variables."""
    with_key = "app" in where
    head = "| setting (`settings.json`) | environment |" if with_key else "| variable |"
    rows = [f"{head} default | allowed | meaning |", "|---" * (5 if with_key else 4) + "|"]
    for s in spec.SETTINGS:
        if s.where in where:
            names = (f"`{s.key}` | " if s.key else " | ") if with_key else ""
            names += f"`{s.env}`" if s.env else ""
            rows.append(f"| {names} | {shown_default(s)} | {_allowed(s)} | {s.help} |")
    if with_key:
        rows.append("|  | `SETTINGS_FILE` | `./settings.json` |  | read another settings file |")
    return "\n".join(rows) + "\n"


def _nest(target: dict, key: str, value: object) -> None:
    head, _, rest = key.partition(".")
    if rest:
        _nest(target.setdefault(head, {}), rest, value)
    else:
        target[head] = list(value) if isinstance(value, tuple) else value


def settings_json() -> str:
    data: dict = {}
    for s in spec.SETTINGS:
        if s.key:
            _nest(data, s.key, s.default)
    return json.dumps(data, indent=2) + "\n"


def compose_variables() -> list[Setting]:
    """The variables docker-compose passes into the container (each at most once)."""
    seen: set[str] = set()
    chosen = []
    for s in spec.SETTINGS:
        if s.env and s.where != "compose" and s.env not in IMAGE_ENV and s.env not in seen:
            seen.add(s.env)
            chosen.append(s)
    return chosen


def env_example() -> str:
    lines = [
        "# Copy to .env (next to docker-compose.yml) and uncomment what you change. Every value is",
        "# optional: unset or empty means the default shown. Generated from src/core/settings/spec.py",
        "# (python -m src.core.settings --write-docs); README.md and docs/appliance.md say more.",
    ]
    compose_only = [s for s in spec.SETTINGS if s.where == "compose"]
    for s in compose_only + compose_variables():
        default = str(s.default).lower() if isinstance(s.default, bool) else s.default
        default = ",".join(map(str, default)) if isinstance(default, tuple) else default
        lines += ["", f"# {s.help}", f"# {s.env}={default}"]
    return "\n".join(lines) + "\n"


def compose_environment(text: str) -> str:
    """docker-compose.yml with its generated `environment:` block: every variable, empty = default."""
    head, begin, rest = text.partition(COMPOSE_BEGIN)
    _, end, tail = rest.partition(COMPOSE_END)
    if not begin or not end:
        raise ValueError(f"docker-compose.yml lacks the markers {COMPOSE_BEGIN!r} ... {COMPOSE_END!r}")
    indent = head[head.rfind("\n") + 1 :]
    block = "".join(f'{indent}{s.env}: "${{{s.env}:-}}"\n' for s in compose_variables())
    return f"{head}{COMPOSE_BEGIN}\n{block}{indent}{COMPOSE_END}{tail}"


def with_table(text: str, where: tuple[str, ...]) -> str:
    head, begin, rest = text.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"the generated table's markers are missing ({BEGIN!r} ... {END!r})")
    return f"{head}{BEGIN}\n{table(where)}{END}{tail}"


def expected(root: Path) -> dict[Path, str]:
    """Every generated file with the content it should have now."""
    files = {root / "settings.json": settings_json(), root / ".env.example": env_example()}
    compose = root / "docker-compose.yml"
    files[compose] = compose_environment(compose.read_text(encoding="utf-8"))
    for name, where in TABLES.items():
        files[root / name] = with_table((root / name).read_text(encoding="utf-8"), where)
    return files


def stale(root: Path) -> list[str]:
    return [
        str(p.relative_to(root))
        for p, text in expected(root).items()
        if p.read_text(encoding="utf-8") != text
    ]


def write_all(root: Path) -> list[Path]:
    written = []
    for path, text in expected(root).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
