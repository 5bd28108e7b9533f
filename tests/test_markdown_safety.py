"""No page hands text it did not write itself to a Streamlit element that renders Markdown.

Streamlit renders the text of most elements (messages, captions, labels, toasts, expander
titles, progress texts) as Markdown, so a visitor's file name or a tool's error could carry a
link or an image (fetched from any host by every browser that shows it). Every such argument in
the pages and the UI must be text the code wrote (a string literal), or built only from
literals, numbers formatted with a format spec, and values passed through
``src.ui.text.literal`` (or, for widget labels, ``label_text``). The check reads the source, so
it covers every branch, not only the ones a browser test happens to reach; the browser tests
(``tests/test_appliance_abuse.py``) show the effect on real pages.
"""

from __future__ import annotations

import ast
import html
import json
import re
import subprocess
import textwrap
from pathlib import Path

from src.ui.text import label_text, literal, unlinked
from tests.conftest import REPO

#: Streamlit calls whose text is Markdown: the argument positions and keywords that hold it.
DISPLAY = {
    "markdown", "caption", "info", "warning", "error", "success", "toast", "title", "header",
    "subheader", "write", "expander", "spinner", "page_link", "status",
}  # fmt: skip
#: Widgets: their label (first argument) and help text are Markdown too.
WIDGETS = {
    "button", "checkbox", "toggle", "number_input", "text_input", "text_area", "selectbox",
    "multiselect", "radio", "file_uploader", "download_button", "link_button", "form_submit_button",
    "metric", "progress", "slider", "select_slider", "date_input", "pills", "segmented_control",
}  # fmt: skip
TEXT_KEYWORDS = {"body", "label", "text", "help"}
#: Calls whose first argument is not text (a progress bar's fraction, the page a link goes to).
FIRST_NOT_TEXT = {"progress", "page_link"}
#: The workflow UI helper's methods that show text (src/ui/workflow_ui.py): workflows call these.
UI_HELPER = {"info", "subheader", "caption"}
#: Objects whose methods of these names are not Streamlit's (besides the modules a file imports).
NOT_STREAMLIT = {"log", "logger"}
SOURCES = ["app.py", "content", "src/ui", "src/workflows"]


def _files() -> list[Path]:
    found = []
    for source in SOURCES:
        path = REPO / source
        found += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return found


def _receiver(node: ast.expr) -> str:
    while isinstance(node, ast.Attribute | ast.Subscript | ast.Call):
        node = node.value if not isinstance(node, ast.Call) else node.func
    return node.id if isinstance(node, ast.Name) else ""


def _is_literal_call(node: ast.expr) -> bool:
    name = getattr(node.func, "id", getattr(node.func, "attr", "")) if isinstance(node, ast.Call) else ""
    return name in ("literal", "label_text", "bullet_list")


def _safe(node: ast.expr, passed_through: set[str]) -> bool:
    """True if the text can only hold what the code wrote (or literal() made harmless)."""
    if isinstance(node, ast.Constant):
        return True
    if _is_literal_call(node):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(_safe_part(part, passed_through) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _safe(node.left, passed_through) and _safe(node.right, passed_through)
    if isinstance(node, ast.IfExp):
        return _safe(node.body, passed_through) and _safe(node.orelse, passed_through)
    if isinstance(node, ast.Name) and node.id in passed_through:
        return True  # a parameter of a showing helper (its callers are checked), or a local safe value
    root = _receiver(node)
    return isinstance(node, ast.Name | ast.Subscript | ast.Attribute) and root.isupper()  # a constant


def _safe_part(part: ast.expr, passed_through: set[str]) -> bool:
    if isinstance(part, ast.Constant):
        return True
    assert isinstance(part, ast.FormattedValue)
    return part.format_spec is not None or _safe(part.value, passed_through)


def _safe_locals(function: ast.AST, passed_through: set[str]) -> set[str]:
    """Local names every assignment of which (in this function) is safe text."""
    assigned: dict[str, list[ast.expr]] = {}
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.setdefault(node.targets[0].id, []).append(node.value)
        elif isinstance(node, ast.AnnAssign | ast.AugAssign | ast.For | ast.With | ast.NamedExpr):
            targets = [getattr(node, "target", None)] + [i.optional_vars for i in getattr(node, "items", [])]
            for target in targets:
                for name in ast.walk(target) if target is not None else []:
                    if isinstance(name, ast.Name):
                        assigned.setdefault(name.id, []).append(ast.Name("<unknown>"))
    return {name for name, values in assigned.items() if all(_safe(v, passed_through) for v in values)}


#: Calls whose second argument and these keywords are Markdown as well: a metric's value and delta
#: (an image in a metric's value is fetched), the options of radio buttons, pills and segments
#: (a select box's options are plain text).
SECOND_IS_TEXT = {"metric": {"value", "delta"}, "radio": {"options"}, "pills": {"options"},
                  "segmented_control": {"options"}}  # fmt: skip


def _text_arguments(call: ast.Call, name: str) -> list[ast.expr]:
    args = [call.args[0]] if call.args and name not in FIRST_NOT_TEXT else []
    extra = SECOND_IS_TEXT.get(name, set())
    if extra and len(call.args) > 1:
        args.append(call.args[1])
    args += [k.value for k in call.keywords if k.arg in TEXT_KEYWORDS | extra]
    return [item for arg in args for item in (arg.elts if isinstance(arg, ast.List | ast.Tuple) else [arg])]


def _imported_modules(tree: ast.Module) -> set[str]:
    """Names a file imports, but Streamlit's: ``runs.status(...)`` is not ``st.status(...)``."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return names - {"st"}


def _calls_by_function(tree: ast.Module):
    """(innermost enclosing function or the module, calls directly in it), for every scope."""
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]
    for scope in scopes:
        calls, stack = [], list(ast.iter_child_nodes(scope))
        while stack:
            node = stack.pop()
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue  # its own scope
            if isinstance(node, ast.Call):
                calls.append(node)
            stack.extend(ast.iter_child_nodes(node))
        yield scope, calls


def _violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    other = _imported_modules(tree) | NOT_STREAMLIT
    found = []
    for scope, calls in _calls_by_function(tree):
        passed = set()
        if isinstance(scope, ast.FunctionDef) and scope.name in UI_HELPER:
            passed = {a.arg for a in scope.args.args}
        passed |= _safe_locals(scope, passed)
        for call in calls:
            if not isinstance(call.func, ast.Attribute):
                continue
            name, receiver = call.func.attr, _receiver(call.func.value)
            showing = name in DISPLAY or name in WIDGETS or (receiver == "ui" and name in UI_HELPER)
            if not showing or receiver in other:
                continue
            for arg in _text_arguments(call, name):
                if not _safe(arg, passed):
                    where = path.relative_to(REPO) if path.is_relative_to(REPO) else path.name
                    found.append(f"{where}:{arg.lineno}: {name}({ast.unparse(arg)})")
    return sorted(set(found))


def test_pages_show_outside_text_only_through_literal():
    found = [v for path in _files() for v in _violations(path)]
    assert found == [], "wrap these in src.ui.text.literal():\n" + "\n".join(found)


def test_the_check_finds_what_it_must(tmp_path):
    sample = tmp_path / "markdown_sample.py"
    sample.write_text(
        "import streamlit as st\n"
        "from src.ui.text import literal\n"
        "def page(name, err, n):\n"
        "    st.error(f'Not added: {name}')\n"  # caught
        "    st.error(str(err))\n"  # caught
        "    st.caption(f'{n:.1f} s, {literal(name)}')\n"  # fine
        "    st.success('Done')\n"  # fine
        "    log.error(f'{name}')\n"  # not Streamlit
    )
    found = [v.split(": ", 1)[1] for v in _violations(sample)]
    assert found == ["error(f'Not added: {name}')", "error(str(err))"]


# ---- what Streamlit's Markdown makes of literal()'s output -------------------------------------
#: What may stand before an address: GFM links ``www.``, ``http://`` and e-mail addresses at the
#: start and after any whitespace, punctuation or symbol (Unicode's, ``_`` and ``‿`` included).
BEFORE = [
    "", "_", "__", "*", "**", "(", "~", "~~", '"', "'", "<", "[", "![t](", ":", "-", "/", ".", "!", "?",
    "#", "$", "%", "&", "+", "=", "|", "^", "`", "{", ",", ";", "@", "\\", "1", "a", "é", "«", "‿",
    "\uff3f", "\u2014", "§", "€", "\n", " ", "\t", "\u00a0", "\u3000", "x\n_", "mailto:", "xmpp:",
]  # fmt: skip
ADDRESSES = [
    "www.host.mzML", "WWW.Host.org", "Www.x.y/p?q=1", "http://host/x.mzML", "HTTPS://host/x",
    "hTTp://h.x", "ftp://host/x", "mailto:a@b.org", "xmpp:a@b.org/r", "user@host.org",
    "a.b+c@d.e.org", "x@y.z", "wwww.host.org", "http://www.host.org", "http://evil.example/x.mzML",
    "https://1.2.3.4/x",
]  # fmt: skip
AFTER = ["", "_", "*", ")", ".", " end", "\n"]
WHOLE = [
    "![t](http://host/x.png).mzML", "[a](javascript:alert(1))", "<http://host>", "<a@b.org>",
    "_www.host_", "__http://x.y__", "~~www.x.y~~", "**a@b.org**", "[www.x.y]", "www.x.y\\_z",
    "a\\@b.org", "http:/\\/host", "&#119;ww.host.org", "www&#46;host.org", "h&#116;tp://host",
]  # fmt: skip


def markdown_html(texts: list[str]) -> list[str]:
    """The HTML Streamlit makes of each text: dedented and stripped as its Python side does to a
    message's body, then parsed as its frontend does (remark-parse, remark-gfm:
    tests/tools/markdown.mjs)."""
    sent = [textwrap.dedent(text).strip() for text in texts]
    done = subprocess.run(
        ["node", str(REPO / "tests" / "tools" / "markdown.mjs")],
        input=json.dumps(sent), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def shown_text(fragment: str) -> str:
    """What a browser shows of an HTML fragment, whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def _texts() -> list[str]:
    texts = [f"name {b}{a}{s}" for b in BEFORE for a in ADDRESSES for s in AFTER]
    texts += [f"{b}{a}{s}" for b in BEFORE if b.strip() for a in ADDRESSES for s in AFTER]
    return texts + WHOLE + [f"{b}{w}" for b in BEFORE for w in WHOLE]


def test_no_text_through_literal_becomes_a_link_in_any_position():
    texts = _texts()
    unsafe = markdown_html(texts)
    assert sum("<a " in h for h in unsafe) > len(texts) // 3  # the engine does link these, unescaped
    for text, rendered in zip(texts, markdown_html([literal(t) for t in texts]), strict=True):
        assert "<a " not in rendered and "<img" not in rendered, (text, rendered)
        assert shown_text(rendered) == " ".join(unlinked(text).split()), (text, rendered)  # exactly the text
    for text, rendered in zip(texts, markdown_html([label_text(t) for t in texts]), strict=True):
        assert "<a " not in rendered and "<img" not in rendered, (text, rendered)
