"""Text that comes from a visitor or a tool, made safe for Streamlit's Markdown.

Most of Streamlit's text elements (``st.markdown``, ``st.error``, ``st.caption``, labels,
toasts, expander titles) render their text as Markdown. HTML in it is escaped, but Markdown
is not: a file name like ``![t](http://host/x.png).mzML`` would make every browser that shows
it fetch an image from that host, and ``[a](javascript:...)`` would be a live link. Any text
the app did not write itself (file names, error texts, parameter values, e-mail addresses,
log lines) goes through :func:`literal` before it reaches such an element; a test
(``tests/test_markdown_safety.py``) fails when a page passes any other text to one.
"""

from __future__ import annotations

import re

#: Every ASCII punctuation character may be backslash-escaped in CommonMark, which makes it plain
#: text; these are the ones Markdown, GFM (autolinks, tables, strikethrough) or Streamlit's own
#: extensions (``:color[...]``, ``:material/icon:``, ``$math$``) give a meaning.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$:=^&\"'@/%])")
#: Control characters (except line breaks and tabs) are shown as a replacement character.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
#: GFM turns bare addresses into links after the escapes are gone (``http://...``, ``www.x``,
#: ``name@host``, ``mailto:``/``xmpp:`` addresses): an invisible word joiner after the scheme, the
#: "www" and the "@" stops that. Wherever they stand: GFM links them after any punctuation or
#: symbol (``_www.x``, ``*http://x``, ``(www.x``), which a regex word boundary does not see.
_AUTOLINKED = re.compile(r"(?i)((?:https?|ftp|mailto|xmpp)(?=:)|www(?=\.)|@)")
WORD_JOINER = "\u2060"


def unlinked(text: str) -> str:
    """``text`` with the word joiners that keep GFM from making links of its addresses (what a
    browser shows of ``literal(text)``, joiners included)."""
    return _AUTOLINKED.sub(lambda m: m.group(1) + WORD_JOINER, text)


def literal(value: object) -> str:
    """``value`` as text that Markdown shows exactly as it is (line breaks kept), never a link."""
    text = _CONTROL.sub("\ufffd", str(value).replace("\r\n", "\n").replace("\r", "\n"))
    escaped = _SPECIAL.sub(r"\\\1", unlinked(text))
    return escaped.replace("\n", "  \n")  # a hard line break, not a paragraph or a heading


#: What a widget label keeps: Streamlit renders labels as Markdown but also puts them, unrendered,
#: in the element's aria-label, where escapes would show as backslashes to screen readers.
_LABEL_DROPPED = re.compile(r"[\\`*\[\]<>!|~$^{}]")


def label_text(value: object) -> str:
    """``value`` as a widget label: the characters that make links, images, emphasis or code in
    Markdown are dropped (not escaped), so the label and its aria-label read the same; addresses
    and character references get word joiners (as :func:`unlinked`), which screen readers pass over."""
    kept = _LABEL_DROPPED.sub("", _CONTROL.sub("", str(value)).replace("\n", " "))
    return unlinked(kept.replace("&", "&" + WORD_JOINER))  # "&#119;" is no "w", so no "www."


def bullet_list(items: list[tuple[str, str]]) -> str:
    """Markdown bullets "**name**: text", each name and text as it is (through :func:`literal`)."""
    return "\n".join(f"- **{literal(name)}**: {literal(text)}" for name, text in items)
