"""The course's terms in English and Chinese: one glossary for the translations and for the learner.

    from llmcourse import glossary
    glossary.show("07_quantization")       # the terms a module introduces, as a table (plain text outside Jupyter)
    glossary.table("07_quantization")      # the same table as markdown text ("html" and "text" also available)
    glossary.wrong_terms("量化比例")          # [(wrong term, its entry)]: renderings a Chinese text must not use

The glossary is `glossary.json` beside this file: {"terms": [{"en", "zh", "wrong_zh": [...], "modules": [...],
"note"}, ...]}, one entry per line. A new module adds its terms as new lines (or adds its module name to the
"modules" of a term it uses again); tests/unit/test_glossary.py checks that every module has terms and that no
Chinese text of the quiz banks uses a term the glossary lists as wrong.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from functools import lru_cache
from pathlib import Path

GLOSSARY_PATH = Path(__file__).with_name("glossary.json")
MODULE_RE = re.compile(r"^\d\d_[a-z0-9_]+$")
FORMATS = ("markdown", "html", "text")


class GlossaryError(ValueError):
    """The glossary file is malformed, or a module has no terms; the message says which."""


@lru_cache(maxsize=1)
def load() -> tuple[dict, ...]:
    """Every entry of the glossary, validated: en, zh, wrong_zh (list), modules (list), note."""
    try:
        data = json.loads(GLOSSARY_PATH.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GlossaryError(f"{GLOSSARY_PATH.name}: cannot read it ({exc})") from None
    terms = data.get("terms") if isinstance(data, dict) else None
    if not isinstance(terms, list):
        raise GlossaryError(f"{GLOSSARY_PATH.name}: needs a 'terms' list")
    out = []
    for i, e in enumerate(terms):
        where = f"{GLOSSARY_PATH.name} term {i} ({e.get('en', '?') if isinstance(e, dict) else '?'})"
        if not isinstance(e, dict) or not all(isinstance(e.get(k), str) and e[k].strip() for k in ("en", "zh")):
            raise GlossaryError(f"{where}: needs non-empty strings 'en' and 'zh'")
        wrong, modules = e.get("wrong_zh", []), e.get("modules")
        if not isinstance(wrong, list) or not all(isinstance(w, str) and w.strip() for w in wrong):
            raise GlossaryError(f"{where}: 'wrong_zh' is a list of strings")
        if not isinstance(modules, list) or not modules or not all(
                isinstance(m, str) and MODULE_RE.match(m) for m in modules):
            raise GlossaryError(f"{where}: 'modules' lists course modules such as '07_quantization'")
        if not isinstance(e.get("note", ""), str):
            raise GlossaryError(f"{where}: 'note' is a string")
        out.append({"en": e["en"], "zh": e["zh"], "wrong_zh": list(wrong), "modules": list(modules),
                    "note": e.get("note", "")})
    return tuple(out)


def terms(module: str) -> list[dict]:
    """The entries a module introduces or uses, in glossary order; a GlossaryError when it has none."""
    found = [e for e in load() if module in e["modules"]]
    if not found:
        raise GlossaryError(f"no glossary terms for {module!r}: add entries to {GLOSSARY_PATH.name}")
    return found


def table(module: str, fmt: str = "markdown") -> str:
    """The module's terms as a table: 'markdown', 'html' or 'text' (aligned columns for a terminal)."""
    if fmt not in FORMATS:
        raise GlossaryError(f"fmt must be one of {FORMATS}")
    rows = [(e["en"], e["zh"], e["note"]) for e in terms(module)]
    head = ("English", "中文", "note · 说明")
    if fmt == "markdown":
        cell = lambda s: s.replace("|", "\\|")  # noqa: E731
        return "\n".join([f"| {' | '.join(head)} |", "|---|---|---|"]
                         + [f"| {cell(en)} | {cell(zh)} | {cell(note)} |" for en, zh, note in rows])
    if fmt == "html":
        body = "".join(f"<tr><td>{html.escape(en)}</td><td>{html.escape(zh)}</td><td>{html.escape(note)}</td></tr>"
                       for en, zh, note in rows)
        heads = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        return (f'<table class="llmcourse-glossary"><caption>Terms of this module · 本模块术语</caption>'
                f"<tr>{heads}</tr>{body}</table>")
    width = max(len(en) for en, _, _ in rows) + 2
    return "\n".join([f"Terms of {module} · 本模块术语"] + [f"  {en:<{width}}{zh}" for en, zh, _ in rows])


def _in_kernel() -> bool:
    """True inside a Jupyter kernel (rich output), False in a terminal or a plain script."""
    if os.environ.get("LLMCOURSE_QUIZ", "").strip().lower() == "text":
        return False
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and "ZMQ" in type(shell).__name__


def show(module: str) -> None:
    """Display the module's terms: an HTML table in Jupyter (with a markdown fallback), plain text elsewhere."""
    if not _in_kernel():
        print(table(module, "text"))
        return
    from IPython.display import display

    display({"text/html": table(module, "html"), "text/markdown": table(module, "markdown"),
             "text/plain": table(module, "text")}, raw=True)


def _parts(zh: str) -> list[str]:
    """The single terms of a 'zh' field: '一阶矩 / 二阶矩' gives both, 'top-p（核）采样' gives its pieces too."""
    return [p for p in [zh, *re.split(r"\s*/\s*|、|（|）", zh)] if p.strip()]


def wrong_terms(text: str) -> list[tuple[str, dict]]:
    """The terms a Chinese text uses that the glossary lists as wrong, with the entry that says what is right.

    A wrong rendering inside a right term (提示 inside 提示词) does not count: before looking for a wrong term,
    the text is cleared of every right term that contains it.
    """
    right = sorted({p for e in load() for p in _parts(e["zh"])}, key=len, reverse=True)
    found = []
    for e in load():
        for w in e["wrong_zh"]:
            cleared = text
            for p in right:
                if w in p and p != w:
                    cleared = cleared.replace(p, "\0")
            if w in cleared:
                found.append((w, e))
    return found
