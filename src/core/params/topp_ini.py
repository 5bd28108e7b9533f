"""TOPP tool parameters, read from the ``.ini`` file each tool writes with ``-write_ini``.

Reading the tool's own description means the UI can offer every parameter with
its real default, type, range and help text, and values can be checked before a
run instead of failing inside the tool.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from src.core.errors import ParameterError, ToolNotFoundError
from src.core.settings import tool_environment

#: Parameters that the engine sets itself (files, threads) or that only matter to OpenMS developers.
ENGINE_OWNED = {"in", "out", "ini", "log", "threads", "no_progress", "debug", "test", "force", "write_ini"}


@dataclass(frozen=True)
class ToppParam:
    """One parameter of a TOPP tool, as described in its ini file."""

    name: str  # full name below the tool's instance node, e.g. "algorithm:common:noise_threshold_int"
    type: str  # int, double, string, bool (string with true/false restrictions), *-file, *list
    default: object
    description: str
    advanced: bool
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None

    @property
    def is_list(self) -> bool:
        return self.type.endswith("list")

    @property
    def is_bool(self) -> bool:
        return self.type == "bool" or set(self.choices) == {"true", "false"}

    @property
    def is_flag(self) -> bool:
        """A TOPP flag (``type="bool"`` in the ini): given alone when set (``-force``), never with a
        value; OpenMS refuses ``-force true``. String options restricted to true/false take one."""
        return self.type == "bool" and not self.choices


def tool_missing_message(tool: str) -> str:
    return (
        f"The OpenMS tool '{tool}' was not found on this system. Install the OpenMS TOPP tools "
        "(on Debian/Ubuntu: apt-get install --no-install-recommends topp) or use the Docker image."
    )


def require_tool(tool: str) -> str:
    """Return the tool's path or raise ToolNotFoundError with install advice."""
    path = shutil.which(tool)
    if path is None:
        raise ToolNotFoundError(tool_missing_message(tool))
    return path


def ini_path(cache_dir: Path, tool: str) -> Path:
    """The tool's default ini, written once with ``-write_ini`` and cached (atomic rename).

    The cache key includes the executable's size and mtime, so upgrading OpenMS
    under a persistent volume does not leave stale defaults behind.
    """
    executable = require_tool(tool)
    stat = os.stat(executable)
    target = cache_dir / f"{tool}-{stat.st_size}-{int(stat.st_mtime)}.ini"
    if target.is_file() and target.stat().st_size > 0:
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cache_dir, suffix=".ini.tmp")
    os.close(fd)
    try:
        subprocess.run(
            [executable, "-write_ini", tmp],
            check=True,
            capture_output=True,
            timeout=120,
            env=tool_environment(os.environ),  # no deployment secrets for a tool, even here
        )
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return target


def _convert(value: str, kind: str) -> object:
    if kind == "int":
        return int(value)
    if kind in ("double", "float"):
        return float(value)
    return value


def _bounds(restrictions: str, kind: str) -> tuple[float | None, float | None]:
    low, _, high = restrictions.partition(":")
    convert = int if kind == "int" else float
    return (convert(low) if low else None, convert(high) if high else None)


def _item_to_param(element: ET.Element, prefix: str) -> ToppParam:
    kind = element.get("type", "string")
    restrictions = element.get("restrictions", "")
    numeric = kind in ("int", "double", "float")
    raw = element.get("value", "")
    choices = tuple(restrictions.split(",")) if restrictions and not numeric else ()
    minimum, maximum = _bounds(restrictions, kind) if restrictions and numeric else (None, None)
    if element.tag == "ITEMLIST":  # e.g. "intlist": a list of ints, each within the restrictions
        default: object = [_convert(entry.get("value", ""), kind) for entry in element.findall("LISTITEM")]
        kind = f"{kind}list"
    else:
        default = _convert(raw, kind) if raw != "" else ""
        if set(choices) == {"true", "false"}:
            kind, default = "bool", default == "true"
        elif choices and str(default) not in choices:  # e.g. in_type "": the tool decides itself
            choices = (str(default), *choices)
    return ToppParam(
        name=prefix + element.get("name", ""),
        type=kind,
        default=default,
        description=element.get("description", ""),
        advanced=element.get("advanced", "false") == "true",
        choices=choices,
        minimum=minimum,
        maximum=maximum,
    )


def _walk(node: ET.Element, prefix: str) -> list[ToppParam]:
    params: list[ToppParam] = []
    for child in node:
        if child.tag in ("ITEM", "ITEMLIST"):
            params.append(_item_to_param(child, prefix))
        elif child.tag == "NODE":
            params.extend(_walk(child, f"{prefix}{child.get('name')}:"))
    return params


def read_ini(path: Path, tool: str) -> dict[str, ToppParam]:
    """All user-settable parameters of the tool's first instance, keyed by full name."""
    root = ET.parse(path).getroot()
    instance = root.find(f"./NODE[@name='{tool}']/NODE[@name='1']")
    if instance is None:
        raise ParameterError(f"{path} does not describe the tool {tool}.")
    return {p.name: p for p in _walk(instance, "") if p.name not in ENGINE_OWNED}


def coerce(param: ToppParam, value: object) -> object:
    """Convert a value to the parameter's type and check its range or choices."""
    try:
        if param.is_bool:
            converted: object = value if isinstance(value, bool) else str(value).lower() == "true"
        elif param.is_list:
            items = value if isinstance(value, list) else str(value).split()
            converted = [_convert(str(item).strip(), param.type.removesuffix("list")) for item in items]
        else:
            converted = _convert(str(value), param.type)
    except ValueError:
        raise ParameterError(f"{param.name} must be of type {param.type}, got {value!r}.") from None
    _check_range(param, converted)
    return converted


def _check_range(param: ToppParam, value: object) -> None:
    if isinstance(value, list):
        for item in value:
            _check_item(param, item)
        return
    _check_item(param, value)


def _check_item(param: ToppParam, value: object) -> None:
    if param.minimum is not None and value < param.minimum:  # type: ignore[operator]
        raise ParameterError(f"{param.name} must be at least {param.minimum}, got {value}.")
    if param.maximum is not None and value > param.maximum:  # type: ignore[operator]
        raise ParameterError(f"{param.name} must be at most {param.maximum}, got {value}.")
    if param.choices and not param.is_bool and value not in param.choices:
        raise ParameterError(f"{param.name} must be one of {', '.join(param.choices)}, got {value!r}.")


def command_line(param: ToppParam, value: object) -> list[str]:
    """The option and its value as written on a TOPP command line: a flag alone, or nothing when
    it is not set; lists as separate arguments."""
    if param.is_flag:
        return [f"-{param.name}"] if value else []
    return [f"-{param.name}", *command_line_value(param, value)]


def command_line_value(param: ToppParam, value: object) -> list[str]:
    """How a value is written on a TOPP command line (lists as separate arguments)."""
    if param.is_bool:
        return ["true" if value else "false"]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]
