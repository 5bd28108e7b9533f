"""Widgets for every parameter of a TOPP tool, built from the tool's own ini description.

Each widget saves on change through the ParameterManager, which checks type and
range; a refused value is reported next to the form and not saved.
"""

from __future__ import annotations

import streamlit as st

from src.core.errors import ParameterError, UserError
from src.core.params import ParameterManager, ToppParam
from src.ui.text import label_text, literal

#: The longest text a parameter's field takes (a TOPP string value), and a list's (one per line):
#: the browser stops there, and the server cuts a longer value a modified client sends.
TEXT_MAX_CHARS = 1_000
LIST_MAX_CHARS = 10_000


def _is_file_param(param: ToppParam) -> bool:
    return "file" in param.type or "prefix" in param.type


def _save(params: ParameterManager, tool: str, param: ToppParam, key: str) -> None:
    value = st.session_state[key]
    if param.is_list and isinstance(value, str):
        value = [line.strip() for line in value.splitlines() if line.strip()]
    try:
        params.set_tool_value(tool, param.name, value)
        st.session_state.pop(f"{key}::error", None)
    except ParameterError as err:
        st.session_state[f"{key}::error"] = str(err)
    except OSError as err:  # e.g. a full disk: the page says so instead of failing
        st.session_state[f"{key}::error"] = (
            f"the value could not be saved ({err.strerror}). Free some space or tell the administrator."
        )


def _choice_text(choice: str) -> str:
    return choice or "(none: the tool decides)"


def _widget(params: ParameterManager, tool: str, param: ToppParam, value: object, key: str) -> None:
    name = param.name.split(":")[-1]
    section = ":".join(param.name.split(":")[:-1])
    common = {
        "key": key,
        "help": f"{literal(param.description)}\n\n({literal(param.name)})",
        "on_change": _save,
        "args": (params, tool, param, key),
    }
    label = label_text(f"{name} ({section})" if section else name)
    if param.is_bool:
        st.checkbox(label, value=bool(value), **common)
    elif param.is_list:  # one value per line
        st.text_area(label, value="\n".join(str(v) for v in value), max_chars=LIST_MAX_CHARS, **common)
    elif param.choices:
        chosen = param.choices.index(str(value)) if str(value) in param.choices else 0
        st.selectbox(label, param.choices, index=chosen, format_func=_choice_text, **common)
    elif param.type == "int":
        st.number_input(
            label,
            value=int(value),
            min_value=_bound(param.minimum, int),
            max_value=_bound(param.maximum, int),
            step=1,
            **common,
        )
    elif param.type in ("double", "float"):
        st.number_input(
            label,
            value=float(value),
            min_value=_bound(param.minimum, float),
            max_value=_bound(param.maximum, float),
            format="%g",
            **common,
        )
    else:
        st.text_input(label, value=str(value), max_chars=TEXT_MAX_CHARS, **common)
    error = st.session_state.get(f"{key}::error")
    if error:
        st.error(f"Not saved: {literal(error)}")


def _bound(bound: float | None, kind: type) -> float | int | None:
    return None if bound is None else kind(bound)


def tool_parameters(params: ParameterManager, tool: str, title: str, key_prefix: str) -> None:
    """All editable parameters of one tool; advanced ones behind a toggle."""
    st.subheader(literal(title))
    try:
        known = params.tool_params(tool)
        saved = params.tool_values(tool)
    except UserError as err:
        st.error(literal(err))
        return
    except ParameterError as err:
        st.error(f"Saved parameters for {literal(tool)} are not valid: {literal(err)}")
        if st.button(f"Reset {literal(tool)} parameters to defaults", key=f"{key_prefix}-reset-{tool}"):
            _reset_tool(params, tool)
        return
    advanced = st.toggle("Show advanced parameters", key=f"{key_prefix}-advanced-{tool}")
    shown = [p for p in known.values() if not _is_file_param(p) and (advanced or not p.advanced)]
    columns = st.columns(2)
    for index, param in enumerate(shown):
        with columns[index % 2]:
            value = saved.get(param.name, param.default)
            _widget(params, tool, param, value, f"{key_prefix}::{tool}::{param.name}")
    if saved:
        changed = ", ".join(f"{k} = {v}" for k, v in saved.items())
        st.caption(f"Changed from the defaults: {literal(changed)}")


def _reset_tool(params: ParameterManager, tool: str) -> None:
    try:
        data = params.load()
    except ParameterError:
        params.reset()  # the file itself is unreadable: start again from the defaults
    else:
        data.pop(tool, None)
        params.save(data)
    st.rerun()
