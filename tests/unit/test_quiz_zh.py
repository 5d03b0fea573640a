"""The Chinese quiz: the K_zh schema and its load-time check, the message table, the remembered language, and the
completeness of every bank's translation.
"""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest

from llmcourse import quiz
from tests.unit import test_quiz

CJK = re.compile(r"[\u3400-\u9fff]")
# Three English words in a row: English prose left in a Chinese text (identifiers and code spans are removed
# first; single terms such as softmax, GPU or KV stay allowed).
PROSE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,]+[a-z]{2,}){2,}\b")
bank_dir = test_quiz.bank_dir  # the fixture: banks in a temporary folder


def english_prose(text: str) -> list[str]:
    """Runs of English words in a Chinese text, ignoring code spans, bracketed literals, quiz.f(...) calls and the
    numbered code lines of a spot-the-bug question."""
    text = re.sub(r"(?m)`[^`]*`|<code>.*?</code>|\[[^\]]*\]|quiz\.\w+\([^)]*\)|^ *\d+ \| .*$", " ", text)
    return PROSE.findall(text)


@pytest.fixture(autouse=True)
def progress_file(tmp_path, monkeypatch):
    path = tmp_path / "progress.json"
    monkeypatch.setenv(quiz.PROGRESS_ENV, str(path))
    monkeypatch.setenv(quiz.LEARNER_ENV, "zh-test")
    monkeypatch.setenv(quiz.MODE_ENV, "text")
    return path


def opt(text, why, text_zh, why_zh, correct=False):
    return {"text": text, "text_zh": text_zh, "why": why, "why_zh": why_zh, **({"correct": True} if correct else {})}


ZH = {"module": "99_demo", "questions": [
    {"id": "z1", "type": "single", "tags": ["t"], "prompt": "Which scale?", "prompt_zh": "用哪个缩放因子？",
     "options": [opt("one over root d", "keeps the variance near one", "1/sqrt(d)", "让方差保持在 1 附近", True),
                 opt("one over d", "shrinks the scores too much", "1/d", "把分数缩得太小了")]},
    {"id": "z2", "type": "multiple", "tags": ["t"], "prompt": "Pick a and c", "prompt_zh": "选出 a 和 c",
     "options": [opt("a", "yes a", "甲", "甲是对的", True), opt("b", "no b", "乙", "乙不对"),
                 opt("c", "yes c", "丙", "丙是对的", True)]},
    {"id": "z3", "type": "numeric", "tags": ["t"], "prompt": "How many params?", "prompt_zh": "有多少个参数？",
     "answer": 4096, "unit": "params", "unit_zh": "个参数", "why": "64 times 64 weights", "why_zh": "64 乘 64 个权重",
     "traps": [{"value": 128, "why": "added instead of multiplied", "why_zh": "把乘法做成了加法"}]},
    {"id": "z4", "type": "estimate", "tags": ["t"], "prompt": "KV bytes?", "prompt_zh": "KV 缓存有多少字节？",
     "answer": 2.0e9, "unit": "bytes", "unit_zh": "字节", "factor": 1.25, "why": "2 GB of cache",
     "why_zh": "缓存约 2 GB", "traps": [{"value": 1.0e9, "why": "forgot the values", "why_zh": "忘了值也要缓存"}]},
    {"id": "z5", "type": "bug", "tags": ["t"], "prompt": "Which line?", "prompt_zh": "哪一行有错？", "lines": [
        {"code": "x = 1", "why": "fine one", "why_zh": "第一行没问题"},
        {"code": "y = x +* 2", "bug": True, "why": "syntax error", "why_zh": "语法错误",
         "fix": "write y = x * 2", "fix_zh": "改成 y = x * 2"},
        {"code": "print(y)", "why": "fine three", "why_zh": "第三行没问题"}]},
]}


def write(folder: Path, content: dict, name: str = "99_demo") -> None:
    (folder / f"{name}.json").write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")


def half(change) -> dict:
    """The demo bank with one question altered by change(question)."""
    data = json.loads(json.dumps(ZH))
    change(data["questions"])
    return data


# ------------------------------------------------------------------------------------------------------------
# Loading: translated whole or not at all
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("change, expected", [
    (lambda qs: qs[0]["options"][1].pop("text_zh"), "option 1 needs 'text_zh'"),
    (lambda qs: qs[0]["options"][0].pop("why_zh"), "option 0 needs 'why_zh'"),
    (lambda qs: qs[2].pop("why_zh"), "needs 'why_zh'"),
    (lambda qs: qs[2].pop("unit_zh"), "needs 'unit_zh'"),
    (lambda qs: qs[3]["traps"][0].pop("why_zh"), "trap 0 needs 'why_zh'"),
    (lambda qs: qs[4]["lines"][1].pop("fix_zh"), "line 2 needs 'fix_zh'"),
    (lambda qs: qs[4]["lines"][2].pop("why_zh"), "line 3 needs 'why_zh'"),
    (lambda qs: qs[0].pop("prompt_zh"), "needs 'prompt_zh'"),
    (lambda qs: qs[0].update(prompt_zh="Which scale?"), "holds no Chinese"),
    (lambda qs: qs[4]["lines"][0].update(code_zh="x = 1"), "no 'code' to translate"),
    (lambda qs: qs[0]["options"][0].update(note_zh="多余"), "no 'note' to translate"),
    (lambda qs: qs[2].update(why_zh=""), "'why_zh' must be a non-empty string"),
    (lambda qs: qs[1].update(why_zh="多余的解释"), "has 'why_zh' but no 'why'"),
])
def test_a_question_with_any_chinese_is_translated_whole(bank_dir, change, expected):
    write(bank_dir, half(change))
    with pytest.raises(quiz.QuizError, match=re.escape(expected)):
        quiz.load_bank("99_demo")


def test_english_only_questions_and_symbol_units_load(bank_dir):
    plain = {"module": "99_demo", "questions": [
        {"id": "e1", "type": "numeric", "tags": ["t"], "prompt": "MiB?", "answer": 64, "unit": "MiB",
         "why": "4096 squared times 4 bytes"}]}
    write(bank_dir, plain)
    assert not quiz.load_bank("99_demo")[0].translated
    plain["questions"][0].update(prompt_zh="多少 MiB？", why_zh="4096 的平方乘以 4 字节")
    write(bank_dir, plain)
    quiz.load_bank.cache_clear()
    assert quiz.load_bank("99_demo")[0].translated, "MiB is a symbol: no unit_zh needed"
    assert [quiz.unit_is_word(u) for u in ("bytes", "params", "tokens/s", "s", "MiB", "FLOPs", "dB", "%")] == \
        [True, True, True, False, False, False, False, False]


def test_prompt_only_questions_do_not_load(bank_dir):
    legacy = {"id": "p1", "type": "single", "tags": ["t"], "prompt": "Pick", "prompt_zh": "选一个", "options": [
        {"text": "a", "correct": True, "why": "right one"}, {"text": "b", "why": "wrong one"}]}
    write(bank_dir, {"module": "99_demo", "questions": [legacy]})
    with pytest.raises(quiz.QuizError, match="translated only in part"):
        quiz.load_bank("99_demo")
    (bank_dir / "topics" / "self_attention.json").write_text(json.dumps(
        {"topic": "self_attention", "module": "01_attention", "questions": [legacy]}), encoding="utf-8")
    with pytest.raises(quiz.QuizError, match="translated only in part"):
        quiz.load_topic("self_attention")


# ------------------------------------------------------------------------------------------------------------
# Grading and text in Chinese
# ------------------------------------------------------------------------------------------------------------


def test_feedback_in_chinese_for_every_type(bank_dir):
    write(bank_dir, ZH)
    single, multiple, numeric, estimate, bug = quiz.load_bank("99_demo")
    ok, text = single.grade(0, "zh")
    assert ok and text.startswith("回答正确。") and "让方差保持在 1 附近" in text and "把分数缩得太小了" in text
    assert "← 你的答案" in text and "1/sqrt(d)" in text
    ok, text = multiple.grade({0}, "zh")
    assert not ok and text.startswith("回答错误。") and "乙不对" in text
    ok, text = numeric.grade("128", "zh")
    assert not ok and "你的答案是 128 个参数，正确答案是 4,096 个参数" in text and "把乘法做成了加法" in text
    assert numeric.grade("4096 个参数", "zh")[0], "the Chinese unit may be typed"
    ok, text = estimate.grade("1e9", "zh")
    assert not ok and "差了 2 倍（偏低）" in text and "忘了值也要缓存" in text and "GiB" in text and "字节" in text
    assert estimate.grade("2.2e9", "zh")[1].startswith("估得好")
    ok, text = bug.grade(1, "zh")
    assert ok and "错误就在这一行" in text and "改法：改成 y = x * 2" in text and "第 2 行" in text
    for question in (single, multiple, numeric, estimate, bug):
        for response in (0, {0, 2}, "12", "abc"):
            text = question.grade(response, "zh")[1]
            assert not english_prose(text), (question.id, response, english_prose(text))
    assert single.grade(0, "en")[1].startswith("Correct.") and "keeps the variance" in single.grade(0)[1]


def test_text_mode_speaks_the_chosen_language(bank_dir, capsys):
    write(bank_dir, ZH)
    questions = quiz.load_bank("99_demo")
    text = quiz.quiz_text(questions, seed=0, lang="zh", title="测验")
    for words in ("多选：选出所有正确的选项", "请用一个数作答，单位：个参数", "请给出一个估算值，单位：字节",
                  "请回答有错的那一行的行号", "用 quiz.answer(", "甲", "乙"):
        assert words in text, words
    assert not english_prose(text), english_prose(text)
    english = quiz.quiz_text(questions, seed=0, lang="en")
    assert "(select all that apply" in english and "(answer with a number in params)" in english
    assert quiz.answer("z5", "2", lang="zh") and "回答正确" in capsys.readouterr().out
    with pytest.raises(quiz.QuizError, match="请用行号"):
        quiz.answer("z5", "two", lang="zh")
    with pytest.raises(quiz.QuizError):
        quiz.question_text(questions[0], lang="fr")


def test_message_table_is_complete_in_both_languages():
    fields = lambda s: sorted(f for _, f, _, _ in string.Formatter().parse(s) if f)  # noqa: E731
    own_fields = {"not_a_number": ({"reason", "example"}, {"response", "example"})}  # English explains the reason
    for key, texts in quiz.MESSAGES.items():
        assert set(texts) == set(quiz.LANGS), key
        en, zh = own_fields.get(key, (set(fields(texts["en"])),) * 2)
        assert (set(fields(texts["en"])), set(fields(texts["zh"]))) == (en, zh), f"{key}: the same fields in both"
        if texts["en"]:
            assert CJK.search(texts["zh"]), f"{key}: the Chinese message holds no Chinese"
            assert not english_prose(texts["zh"]), (key, english_prose(texts["zh"]))
    assert set(quiz.MODULES_ZH) == set(quiz.MODULES)


# ------------------------------------------------------------------------------------------------------------
# The remembered language
# ------------------------------------------------------------------------------------------------------------


def test_language_is_remembered_in_the_progress_file(bank_dir, progress_file, capsys):
    write(bank_dir, ZH)
    assert quiz.language() == "en"
    quiz.record(quiz.load_bank("99_demo")[0], 0, True)
    assert quiz.set_language("zh") == "zh"
    data = json.loads(progress_file.read_text(encoding="utf-8"))
    assert data["lang"] == "zh" and "99_demo:z1" in data["answers"], "the choice sits beside the answers"
    quiz.record(quiz.load_bank("99_demo")[1], {0}, False)
    assert quiz.language() == "zh", "recording an answer keeps the choice"
    quiz.show("99_demo", seed=0)
    out = capsys.readouterr().out
    assert out.startswith("测验：99_demo") and "用哪个缩放因子？" in out
    quiz.show("99_demo", seed=0, lang="en")
    assert capsys.readouterr().out.startswith("Quiz: 99_demo")
    quiz.answer("z1", "a", seed=0)
    assert "回答" in capsys.readouterr().out
    quiz.progress()
    table = capsys.readouterr().out
    assert "zh-test 的进度" in table and "一次答对" in table and "模块" in table
    quiz.review()
    assert "错题回顾" in capsys.readouterr().out
    with pytest.raises(quiz.QuizError):
        quiz.set_language("de")


def walk(widget):
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def visible_text(root) -> str:
    """Every string a learner can read in a quiz widget: HTML, labels, button captions, placeholders."""
    import ipywidgets as w

    parts = []
    for widget in walk(root):
        if isinstance(widget, w.HTML):
            parts.append(re.sub(r"<style>.*?</style>|<[^>]+>", " ", widget.value, flags=re.S))
        if isinstance(widget, w.RadioButtons) and "llmcourse-bug" not in widget._dom_classes:
            parts += [label for label, _ in widget.options]
        if isinstance(widget, (w.Button, w.ToggleButtons)):
            parts.append(widget.description)
        if isinstance(widget, w.Text):
            parts.append(widget.placeholder)
    return "\n".join(parts)


def test_widget_switches_every_text_to_chinese_and_remembers(bank_dir, progress_file):
    ipywidgets = pytest.importorskip("ipywidgets")
    write(bank_dir, ZH)
    questions = quiz.load_bank("99_demo")
    root = quiz.quiz_widget(questions, seed=0, title=lambda code: "测验" if code == "zh" else "Quiz",
                            remember=True)
    everything = list(walk(root))
    buttons = [w for w in everything if isinstance(w, ipywidgets.Button)]
    feedback = [w for w in everything if "llmcourse-feedback" in w._dom_classes]
    radios = [w for w in everything if isinstance(w, ipywidgets.RadioButtons)]
    radios[0].value = 1
    buttons[0].click()
    assert "Not quite." in feedback[0].value
    switch = next(w for w in everything if "llmcourse-lang" in w._dom_classes)
    switch.value = "zh"
    assert radios[0].value == 1, "switching the language keeps the learner's choice"
    assert "回答错误。" in feedback[0].value and "把分数缩得太小了" in feedback[0].value, "feedback follows the switch"
    text = visible_text(root)
    for words in ("测验", "语言：", "核对答案", "用哪个缩放因子？", "1/sqrt(d)", "单选", "一个数，单位为 个参数",
                  "本次答对"):
        assert words in text, words
    assert not english_prose(text), english_prose(text)
    buttons[2].click()
    assert "请先输入一个数。" in feedback[2].value
    assert json.loads(progress_file.read_text(encoding="utf-8"))["lang"] == "zh"
    switch.value = "en"
    assert "Not quite." in feedback[0].value and "Check" == buttons[0].description
    assert quiz.language() == "en"


# ------------------------------------------------------------------------------------------------------------
# Completeness: every question of every bank is translated whole
# ------------------------------------------------------------------------------------------------------------

BANKS = [pytest.param(m, id=m) for m in quiz.module_banks()] + [
    pytest.param(f"topics/{t}", id=f"topics/{t}") for t in quiz.topic_banks()]


def zh_strings(raw: dict) -> list[tuple[str, str, str]]:
    """(where, English, Chinese) of every translated field of a raw question."""
    parts = quiz._parts(raw)
    return [(f"{name} {key}".strip(), en, parts[name].get(f"{key}_zh", "")) for name, key, en in quiz.zh_fields(raw)]


@pytest.mark.parametrize("bank", BANKS)
def test_every_question_is_translated_whole(bank):
    path = quiz.BANK_DIR / f"{bank}.json"
    questions = quiz.load_topic(bank[7:]) if bank.startswith("topics/") else quiz.load_bank(bank)
    missing = [q.id for q in questions if not q.translated]
    assert not missing, f"{bank}: {len(missing)} of {len(questions)} questions lack a whole Chinese translation: " \
                        f"{missing[:8]}"
    for raw in json.loads(path.read_text(encoding="utf-8"))["questions"]:
        for where, en, zh in zh_strings(raw):
            assert not english_prose(zh), f"{bank} {raw['id']} {where}: English left in {zh!r}"
            words = english_prose(en) if "`" not in en else []
            assert CJK.search(zh) or not words, f"{bank} {raw['id']} {where}: {zh!r} is not translated"


def test_every_module_quiz_renders_in_chinese_without_english_prose():
    pytest.importorskip("ipywidgets")
    questions = [q for m in quiz.module_banks() for q in quiz.load_bank(m)]
    text = quiz.quiz_text(questions, seed=0, lang="zh")
    assert not english_prose(text), english_prose(text)[:5]
    root = quiz.quiz_widget(questions, seed=0, lang="zh")
    assert not english_prose(visible_text(root)), english_prose(visible_text(root))[:5]
    for q in questions:
        right = {i for i, o in enumerate(q.options) if o.correct} if q.type == "multiple" else \
            next((i for i, o in enumerate(q.options) if o.correct), None) if q.options else q.answer
        for response in (right, 0 if q.options else "7"):
            assert not english_prose(q.grade(response, "zh")[1]), (q.id, english_prose(q.grade(response, "zh")[1]))
