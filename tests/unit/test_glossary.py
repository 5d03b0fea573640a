"""The glossary: one source of the course's terms in English and Chinese.

Every module has terms; every module notebook opens with its term table; no Chinese text of a quiz bank (or of
the glossary itself) uses a rendering the glossary lists as wrong.
"""

from __future__ import annotations

import json
import re

import pytest

from autograde import build
from autograde.settings import REPO, SOURCE_DIR
from llmcourse import glossary, quiz

MODULE_NOTEBOOKS = [a for a in (s.assignment for s in build.discover(REPO)) if a in quiz.MODULES]


def chinese_fields(node, where=""):
    """(where, text) of every *_zh string in a JSON tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key.endswith("_zh") and isinstance(value, str):
                yield f"{where}.{key}", value
            else:
                yield from chinese_fields(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from chinese_fields(value, f"{where}[{i}]")


def test_glossary_loads_and_is_consistent():
    entries = glossary.load()
    assert len(entries) >= 60
    ens = [e["en"] for e in entries]
    assert len(set(ens)) == len(ens), "one entry per English term"
    for e in entries:
        assert re.search(r"[\u3400-\u9fff]", e["zh"]), f"{e['en']}: zh holds no Chinese"
        assert all(m in quiz.MODULES for m in e["modules"]), f"{e['en']}: unknown module in {e['modules']}"
        assert e["zh"] not in e["wrong_zh"], e["en"]
    for e in entries:  # the glossary's own Chinese uses no wrong rendering
        assert not glossary.wrong_terms(e["zh"]), (e["en"], glossary.wrong_terms(e["zh"]))


def test_required_terms_match_the_course_convention():
    by_en = {e["en"]: e for e in glossary.load()}
    assert by_en["scale (quantization)"]["zh"] == "缩放因子" and "量化比例" in by_en["scale (quantization)"]["wrong_zh"]
    assert by_en["Adam first / second moment"]["zh"] == "一阶矩 / 二阶矩"
    assert by_en["prompt"]["zh"] == "提示词" and by_en["test (a check)"]["zh"] == "检验"
    assert by_en["per-head dimension (d_head)"]["zh"] == "每头维度"
    assert by_en["hidden size (C, d_model)"]["zh"] == "隐藏维度"
    assert by_en["learned position embedding"]["zh"] == "可学习位置嵌入"
    assert by_en["sinusoidal position encoding"]["zh"] == "正弦位置编码"
    assert {"KV cache", "roofline model"} <= set(by_en)


def test_wrong_terms_are_found_but_not_inside_right_ones():
    found = lambda text: sorted(w for w, _ in glossary.wrong_terms(text))  # noqa: E731
    assert found("对称 int8 量化的量化比例是多少？") == ["量化比例"]
    assert found("Adam 的两个动量") == ["动量"]
    assert found("哪种测试能证明没有泄露？") == ["证明"]
    assert found("每头维度 128，提示词，可学习位置嵌入，缩放因子，一阶矩") == []


# The modules written so far (00-08 and the question bank), and every module notebook that exists.
WITH_TERMS = sorted({m for m in quiz.MODULES if m < "09" or m == "14_question_bank"} | set(MODULE_NOTEBOOKS))


@pytest.mark.parametrize("module", WITH_TERMS)
def test_every_module_has_terms(module):
    rows = glossary.terms(module)
    assert len(rows) >= 4, f"{module}: add its terms to llmcourse/glossary.json"
    for fmt in glossary.FORMATS:
        table = glossary.table(module, fmt)
        assert all(e["zh"].replace("|", "\\|") in table or e["zh"] in table for e in rows)
    with pytest.raises(glossary.GlossaryError):
        glossary.terms("99_nothing")


@pytest.mark.parametrize("assignment", MODULE_NOTEBOOKS)
def test_every_module_notebook_opens_with_its_terms(assignment):
    source = (REPO / SOURCE_DIR / assignment / f"{assignment}.py").read_text(encoding="utf-8")
    cells = [c for c in re.split(r"^# %%", source, flags=re.M)[1:] if c.strip()]
    assert cells[0].startswith(" [markdown]"), f"{assignment}: the title cell comes first"
    assert f'glossary.show("{assignment}")' in cells[1], f"{assignment}: the cell after the title shows the terms"


def test_show_prints_a_table_outside_jupyter(capsys, monkeypatch):
    monkeypatch.setenv("LLMCOURSE_QUIZ", "text")
    glossary.show("07_quantization")
    out = capsys.readouterr().out
    assert "scale (quantization)" in out and "缩放因子" in out and "本模块术语" in out


BANK_FILES = [pytest.param(p, id=p.name) for p in sorted(quiz.BANK_DIR.glob("*.json"))] + [
    pytest.param(p, id=f"topics/{p.name}") for p in sorted((quiz.BANK_DIR / "topics").glob("*.json"))]


@pytest.mark.parametrize("path", BANK_FILES)
def test_no_chinese_text_uses_a_wrong_term(path):
    data = json.loads(path.read_text(encoding="utf-8"))
    bad = [(where, w, e["zh"]) for where, text in chinese_fields(data) for w, e in glossary.wrong_terms(text)]
    assert not bad, f"{path.name}: wrong terms (where, wrong, right): {bad[:6]}"


def test_quiz_messages_use_no_wrong_term():
    bad = [(k, glossary.wrong_terms(v["zh"])) for k, v in quiz.MESSAGES.items() if glossary.wrong_terms(v["zh"])]
    assert not bad
