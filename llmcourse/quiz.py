"""Practice quizzes and the interview question bank: ipywidgets in Jupyter, plain text elsewhere.

    from llmcourse import quiz
    quiz.show("01_attention")                  # the quiz at the end of a module
    quiz.drill("self_attention", n=8)          # interview drill on one topic (or a list, or None = all)
    quiz.review()                              # only the questions you last got wrong
    quiz.progress()                            # what you have answered, module by module and topic by topic
    quiz.answer("attn-scale", "b")             # text mode: answer by question id (or module, number, answer)

Quizzes are practice. A graded short answer is a plain variable in a solution cell, checked by a hidden
test (nbgrader never sees widgets); `quiz.answer_box(name, choices)` only helps the learner write it.

Banks are JSON files. Module banks: `quizbank/NN_slug.json`. Interview topics: `quizbank/topics/<topic>.json`.

    {"module": "01_attention",                        # a topic bank has "topic": "self_attention"
     "questions": [                                   #   and "module": the default module of its questions
       {"id": "attn-scale", "type": "single", "prompt": "...", "tags": ["attention"],
        "prompt_zh": "...",                           # Chinese: every text K a learner reads has a sibling K_zh
        "options": [{"text": "...", "text_zh": "...", "correct": true, "why": "...", "why_zh": "..."}, ...]},
       {"id": "kv-bytes", "type": "numeric", "prompt": "...", "answer": 4096, "unit": "bytes",
        "rel_tol": 0.01, "why": "...",
        "compute": {"fn": "kv_cache_bytes", "args": {...}},  # a formula of tests/unit/test_quiz.py that
                                                      # recomputes the answer (optional "unit" of its result)
        "traps": [{"value": 2048, "why": "forgot that keys and values are both cached"}]},
       {"id": "kv-gb", "type": "estimate", "answer": 2.1e9, "unit": "bytes", "factor": 1.25, ...},
       {"id": "bad-mask", "type": "bug", "prompt": "Which line is wrong?",
        "lines": [{"code": "s = q @ k.T", "why": "..."}, {"code": "...", "bug": true, "why": "...", "fix": "..."}]}]}

Types: single (one right option), multiple (all the right options), numeric (a number within rel_tol/abs_tol,
with an optional unit the learner may convert: "2 GiB" for bytes), estimate (a number within a factor of the
answer), bug (pick the wrong line of a snippet). Every option, line and trap carries a `why`.
Chinese (lang="zh"): prompt_zh, why_zh, options[i].text_zh/why_zh, traps[i].why_zh, lines[i].why_zh/fix_zh (code is
never translated), unit_zh where the unit is a word ("params", "bytes"). A question with any Chinese must have all
of it (QuizError otherwise). The quiz's own words come from MESSAGES; quiz.set_language("zh") remembers the choice
in the progress file, and every quiz, table and text answer then speaks it unless a call names `lang`.
Progress goes to the JSON file named by LLMCOURSE_PROGRESS, else ~/.llmcourse/progress.json.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as _dt
import getpass
import html
import json
import math
import operator
import os
import random
import re
import sys
import tempfile
import unicodedata
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

BANK_DIR = Path(__file__).with_name("quizbank")
TYPES = ("single", "multiple", "numeric", "estimate", "bug")
PROGRESS_ENV = "LLMCOURSE_PROGRESS"
LEARNER_ENV = "LLMCOURSE_LEARNER"
MODE_ENV = "LLMCOURSE_QUIZ"  # "text" forces the plain-text quiz, "widgets" forces widgets
ID_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
MODULE_RE = re.compile(r"^\d\d_[a-z0-9_]+$")

MODULES: dict[str, str] = {
    "00_welcome": "what an LLM does: next-token prediction",
    "01_attention": "scaled dot-product attention",
    "02_multihead": "multi-head attention",
    "03_causal_masking": "masks",
    "04_tiny_gpt": "the whole model in NumPy",
    "05_pytorch_gpu": "PyTorch, devices, KV cache",
    "06_inference_cost": "the analytic inference model",
    "07_quantization": "post-training quantization",
    "08_qat_mixed_precision": "QAT and mixed precision",
    "09_pruning": "pruning and sparsity",
    "10_low_rank": "low-rank factorisation",
    "11_distill_share": "distillation and parameter sharing",
    "12_distributed": "distributed training and inference",
    "13_capstone": "capstone",
    "14_question_bank": "interview question bank",
    "15_gpu_kernels": "GPU kernels in numba.cuda",
}

# The interview topics, in the order of the seed's interview section: id -> (English, Chinese) title.
TOPICS: dict[str, tuple[str, str]] = {
    "llm_basics": ("LLM basics", "大模型基础"),
    "transformer": ("Transformer encoder and decoder", "Transformer 编码器与解码器"),
    "self_attention": ("Self-attention", "自注意力"),
    "multi_head": ("Multi-head attention", "多头注意力"),
    "masked_attention": ("Masked attention", "掩码注意力"),
    "inference_optimization": ("Inference optimisation", "推理优化"),
    "distributed_training": ("Distributed training", "分布式训练"),
    "quantization": ("Quantization", "量化"),
    "pruning": ("Pruning", "剪枝"),
    "compression": ("Compression: distillation, sharing, sparsity", "模型压缩：蒸馏、参数共享、稀疏"),
    "distributed_inference": ("Distributed inference", "分布式推理"),
    "low_rank": ("Low-rank methods", "低秩分解"),
    "mixed_precision": ("Mixed precision", "混合精度"),
    "heterogeneous_compute": ("Heterogeneous compute", "异构计算"),
}

# Module quizzes count towards these topics in drills and in the progress view.
MODULE_TOPICS: dict[str, tuple[str, ...]] = {
    "00_welcome": ("llm_basics",),
    "01_attention": ("self_attention",),
    "02_multihead": ("multi_head",),
    "03_causal_masking": ("masked_attention",),
    "04_tiny_gpt": ("transformer", "llm_basics"),
    "05_pytorch_gpu": ("inference_optimization", "heterogeneous_compute"),
    "06_inference_cost": ("inference_optimization",),
    "07_quantization": ("quantization",),
    "08_qat_mixed_precision": ("quantization", "mixed_precision"),
    "09_pruning": ("pruning",),
    "10_low_rank": ("low_rank",),
    "11_distill_share": ("compression",),
    "12_distributed": ("distributed_training", "distributed_inference"),
    "15_gpu_kernels": ("inference_optimization", "heterogeneous_compute"),
}


class QuizError(ValueError):
    """A question bank is malformed, or an answer refers to no question; the message says which."""


# ----------------------------------------------------------------------------------------------------------
# The quiz's own words, in every language the switch offers
# ----------------------------------------------------------------------------------------------------------

LANGS: dict[str, str] = {"en": "English", "zh": "中文"}

# One table for every sentence the quiz itself shows (feedback, instructions, tables, buttons, text mode).
# Placeholders are str.format fields; a test checks that both languages carry the same ones.
MESSAGES: dict[str, dict[str, str]] = {
    "correct": {"en": "Correct.", "zh": "回答正确。"},
    "not_quite": {"en": "Not quite.", "zh": "回答错误。"},
    "bug_correct": {"en": "Correct: that is the buggy line.", "zh": "回答正确：错误就在这一行。"},
    "mark_bug": {"en": "✘ bug", "zh": "✘ 有错"},
    "mark_fine": {"en": "✔ fine", "zh": "✔ 没错"},
    "line": {"en": "line {n}: `{code}`", "zh": "第 {n} 行：`{code}`"},
    "fix": {"en": "Fix: {fix}", "zh": "改法：{fix}"},
    "your_answer_text": {"en": "   ← your answer", "zh": "   ← 你的答案"},
    "your_answer_html": {"en": "(your answer)", "zh": "（你的答案）"},
    "expected_index": {"en": "Expected an option index, got {response}.",
                       "zh": "需要选项的序号，收到的是 {response}。"},
    "no_such_option": {"en": "Option {i} does not exist: choose 0..{last}.",
                       "zh": "选项 {i} 不存在：请在 0..{last} 中选择。"},
    "not_a_number": {"en": "{reason}. Type a number such as {example}.",
                     "zh": "无法把“{response}”读作一个数（或它的单位无法换算）。请输入一个数，例如 {example}。"},
    "example_unit": {"en": "4096, 4096 {unit} or 2*32*64", "zh": "4096、4096 {unit} 或 2*32*64"},
    "example": {"en": "4096 or 2*32*64", "zh": "4096 或 2*32*64"},
    "estimate_good": {"en": "Good estimate: {given} is within {factor}× of {answer}.",
                      "zh": "估得好：{given} 与 {answer} 相差不到 {factor} 倍。"},
    "estimate_off": {"en": "Off by {ratio}× ({way}): the answer is about {answer}.",
                     "zh": "差了 {ratio} 倍（{way}）：答案约为 {answer}。"},
    "too_high": {"en": "too high", "zh": "偏高"},
    "too_low": {"en": "too low", "zh": "偏低"},
    "wrong_sign": {"en": "The sign is wrong: the answer is about {answer}.", "zh": "符号错了：答案约为 {answer}。"},
    "number_wrong": {"en": "Not quite: you gave {given}, the answer is {answer}.",
                     "zh": "回答错误：你的答案是 {given}，正确答案是 {answer}。"},
    "trap": {"en": "A popular wrong answer: {why}", "zh": "这是一个常见的错误答案：{why}"},
    "choose_first": {"en": "Choose an answer first.", "zh": "请先选择答案。"},
    "type_first": {"en": "Type a number first.", "zh": "请先输入一个数。"},
    "not_saved": {"en": "progress not saved: {error}", "zh": "进度未能保存：{error}"},
    "check": {"en": "Check", "zh": "核对答案"},
    "placeholder_unit": {"en": "a number in {unit}, e.g. 4096 or 2*32*64",
                         "zh": "一个数，单位为 {unit}，例如 4096 或 2*32*64"},
    "placeholder": {"en": "a number, e.g. 4096 or 2*32*64", "zh": "一个数，例如 4096 或 2*32*64"},
    "no_translation": {"en": "", "zh": "（本题尚未完整译成中文）"},
    "language": {"en": "Language:", "zh": "语言："},
    "tally": {"en": "<b>{right}/{total}</b> right this session ({answered} answered). <code>quiz.progress()</code> "
                    "shows all modules; <code>quiz.review()</code> repeats your mistakes.",
              "zh": "本次答对 <b>{right}/{total}</b>（已答 {answered} 题）。<code>quiz.progress()</code> "
                    "显示各模块的进度；<code>quiz.review()</code> 重做你答错的题。"},
    "type_single": {"en": "single choice", "zh": "单选"},
    "type_multiple": {"en": "multiple choice", "zh": "多选"},
    "type_numeric": {"en": "number", "zh": "数值"},
    "type_estimate": {"en": "estimate", "zh": "估算"},
    "type_bug": {"en": "spot the bug", "zh": "找错"},
    "quiz_title": {"en": "Quiz: {module}", "zh": "测验：{module}"},
    "drill_title": {"en": "Drill: {what} ({n} questions)", "zh": "专项练习：{what}（{n} 题）"},
    "review_title": {"en": "Review of your mistakes: {what} ({n} questions)", "zh": "错题回顾：{what}（{n} 题）"},
    "all_topics": {"en": "all topics", "zh": "全部主题"},
    "no_questions": {"en": "No questions to show.", "zh": "没有可显示的题目。"},
    "no_mistakes": {"en": "No questions to show (no mistakes to review: well done).",
                    "zh": "没有可显示的题目（没有需要回顾的错题，做得好）。"},
    "hint_bug": {"en": "(answer with the number of the wrong line)", "zh": "（请回答有错的那一行的行号）"},
    "hint_multiple": {"en": "(select all that apply: answer with letters such as 'ac')",
                      "zh": "（多选：选出所有正确的选项，用字母作答，例如 'ac'）"},
    "hint_number": {"en": "(answer with a number)", "zh": "（请用一个数作答）"},
    "hint_number_unit": {"en": "(answer with a number in {unit})", "zh": "（请用一个数作答，单位：{unit}）"},
    "hint_estimate": {"en": "(answer with an estimate)", "zh": "（请给出一个估算值）"},
    "hint_estimate_unit": {"en": "(answer with an estimate in {unit})", "zh": "（请给出一个估算值，单位：{unit}）"},
    "how_to_answer": {"en": "Answer with quiz.answer(\"{first}\", \"b\") "
                            "(a letter, letters, a line number or a number).",
                      "zh": "用 quiz.answer(\"{first}\", \"b\") 作答（一个字母、几个字母、一个行号或一个数）。"},
    "ask": {"en": "your answer (empty to skip, q to quit): ", "zh": "你的答案（留空跳过，输入 q 退出）："},
    "score": {"en": "{right}/{total} right. quiz.progress() shows everything you have answered.",
              "zh": "答对 {right}/{total} 题。quiz.progress() 显示你答过的全部题目。"},
    "answer_line": {"en": "answer {qid!r} with a line number 1..{last}", "zh": "请用行号 1..{last} 回答 {qid!r}"},
    "no_such_line": {"en": "line {line} does not exist: choose 1..{last}",
                     "zh": "第 {line} 行不存在：请在 1..{last} 中选择"},
    "answer_letter": {"en": "answer {qid!r} with a letter such as 'b'", "zh": "请用字母回答 {qid!r}，例如 'b'"},
    "answer_letters": {"en": "answer {qid!r} with a letter such as 'b' or letters such as 'ac'",
                       "zh": "请用字母回答 {qid!r}，例如 'b' 或 'ac'"},
    "no_such_letter": {"en": "option ({letter}) does not exist for {qid!r}", "zh": "{qid!r} 没有选项 ({letter})"},
    "one_letter": {"en": "{qid!r} has one right answer: give one letter",
                   "zh": "{qid!r} 只有一个正确答案：请只给一个字母"},
    "progress_of": {"en": "progress of {learner} ({path})", "zh": "{learner} 的进度（{path}）"},
    "progress_html": {"en": "Progress of <b>{learner}</b> (saved in <code>{path}</code>)",
                      "zh": "<b>{learner}</b> 的进度（保存在 <code>{path}</code>）"},
    "col_name": {"en": "name", "zh": "名称"},
    "col_about": {"en": "about", "zh": "内容"},
    "col_questions": {"en": "questions", "zh": "题数"},
    "col_answered": {"en": "answered", "zh": "已答"},
    "col_right": {"en": "right", "zh": "答对"},
    "col_first_try": {"en": "1st try", "zh": "一次答对"},
    "col_review": {"en": "to review", "zh": "待复习"},
    "kind_module": {"en": "module", "zh": "模块"},
    "kind_topic": {"en": "topic", "zh": "主题"},
    "box_write_letter": {"en": "Write  {name} = {example}  (your letter) in the answer cell.",
                         "zh": "在答案单元格中写上  {name} = {example}  （你选的字母）。"},
    "box_write_letters": {"en": "Write  {name} = {example}  (your letters) in the answer cell.",
                          "zh": "在答案单元格中写上  {name} = {example}  （你选的全部字母）。"},
    "box_write_number": {"en": "Write  {name} = <{number}>  in the answer cell.",
                         "zh": "在答案单元格中写上  {name} = <{number}>。"},
    "box_number": {"en": "a number", "zh": "一个数"},
    "box_number_unit": {"en": "a number in {unit}", "zh": "一个数，单位为 {unit}"},
    "box_now_set": {"en": "Now <code>{name}</code> is set. Put this line in the answer cell so that the grader sees "
                          "it: <code>{line}</code>",
                    "zh": "<code>{name}</code> 已经赋值。请把这一行写进答案单元格，评分程序才能看到："
                          "<code>{line}</code>"},
    "box_not_number": {"en": "not a number yet", "zh": "还不是一个数"},
}

# Module titles in Chinese, shown in the progress table when the language is 'zh'.
MODULES_ZH: dict[str, str] = {
    "00_welcome": "大模型做什么：预测下一个词元",
    "01_attention": "缩放点积注意力",
    "02_multihead": "多头注意力",
    "03_causal_masking": "掩码",
    "04_tiny_gpt": "用 NumPy 搭建整个模型",
    "05_pytorch_gpu": "PyTorch、设备与 KV 缓存",
    "06_inference_cost": "推理成本的解析模型",
    "07_quantization": "训练后量化",
    "08_qat_mixed_precision": "量化感知训练与混合精度",
    "09_pruning": "剪枝与稀疏",
    "10_low_rank": "低秩分解",
    "11_distill_share": "蒸馏与参数共享",
    "12_distributed": "分布式训练与推理",
    "13_capstone": "综合项目",
    "14_question_bank": "面试题库",
    "15_gpu_kernels": "用 numba.cuda 编写 GPU 内核",
}


def check_lang(lang: str) -> str:
    """The language code itself when the quiz speaks it ('en', 'zh'); a QuizError otherwise."""
    if lang not in LANGS:
        raise QuizError(f"unknown language {lang!r}; choose from {sorted(LANGS)}")
    return lang


def msg(key: str, lang: str = "en", **fields: Any) -> str:
    """One of the quiz's own sentences in a language, with its fields filled in."""
    return MESSAGES[key][check_lang(lang)].format(**fields)


# ----------------------------------------------------------------------------------------------------------
# Quantities: numbers with units, typed by the learner
# ----------------------------------------------------------------------------------------------------------

_BYTES = {"B": 1, "byte": 1, "bytes": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
          "KiB": 2.0**10, "MiB": 2.0**20, "GiB": 2.0**30, "TiB": 2.0**40, "bit": 0.125, "bits": 0.125}
_FLOPS = {"FLOP": 1, "kFLOP": 1e3, "MFLOP": 1e6, "GFLOP": 1e9, "TFLOP": 1e12, "PFLOP": 1e15}
_TIME = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "μs": 1e-6,
         "ns": 1e-9, "min": 60, "minutes": 60, "h": 3600, "hours": 3600}
_PERCENT = {"%": 1, "percent": 1}
_RATIO = {"x": 1, "×": 1, "times": 1}
_FAMILIES = (_BYTES, _FLOPS, _TIME, _PERCENT, _RATIO)
_MULTIPLIERS = {"": 1, "k": 1e3, "K": 1e3, "thousand": 1e3, "M": 1e6, "million": 1e6, "G": 1e9, "B": 1e9,
                "billion": 1e9, "T": 1e12, "trillion": 1e12}
_NUM_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_UNIT_TAIL = re.compile(r"\s*([A-Za-z%×µμ][A-Za-z/%×µμ]*(?:\s+[A-Za-z]+)?)\s*$")
_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}


def _normal_unit(unit: str) -> str:
    unit = unit.strip()
    return re.sub(r"FLOPs$", "FLOP", unit)


def _family(unit: str) -> tuple[dict, float] | None:
    """The unit table a unit belongs to and its factor, or None for a plain count (params, tokens...)."""
    unit = _normal_unit(unit)
    for table in _FAMILIES:
        if unit in table:
            return table, float(table[unit])
    for table in _FAMILIES:
        for name, factor in table.items():
            if name.casefold() == unit.casefold() and name not in ("B", "b"):
                return table, float(factor)
    return None


def _eval_number(text: str) -> float:
    """Evaluate a small arithmetic expression: numbers, + - * / ** (or ^) and parentheses."""
    text = _NUM_RE.sub("", text.strip()).replace("^", "**").replace("×", "*")
    if not text:
        raise ValueError("no number")
    tree = ast.parse(text, mode="eval")

    def ev(node: ast.AST) -> float:
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(
                node.value, bool):
            return float(node.value)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
            value = ev(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = ev(node.left), ev(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 1024:
                raise ValueError("exponent too large")
            return float(_OPS[type(node.op)](left, right))
        raise ValueError("only numbers and + - * / ** are allowed")

    return ev(tree)


def parse_quantity(response: Any, unit: str = "") -> float:
    """A learner's answer in the question's unit: 4096, "4,096", "4 KiB", "2*32*128", "7B", "1.5e9 bytes".

    Raises ValueError with a readable reason when the text is not a number or its unit does not convert.
    """
    if isinstance(response, bool):
        raise ValueError("expected a number, got a boolean")
    if isinstance(response, (int, float)):
        return float(response)
    if hasattr(response, "item") and not isinstance(response, str):  # NumPy scalars
        return float(response.item())
    text = str(response).strip()
    if not text:
        raise ValueError("the answer is empty")
    given = ""
    tail = _UNIT_TAIL.search(text)
    if tail and tail.start() > 0:
        given, text = tail.group(1).strip(), text[: tail.start()]
    try:
        value = _eval_number(text)
    except (SyntaxError, ValueError, ZeroDivisionError, OverflowError) as exc:
        raise ValueError(f"'{response}' is not a number ({exc})") from None
    if not math.isfinite(value):
        raise ValueError(f"'{response}' is not a finite number")
    return value * _unit_factor(given, unit)


def _unit_factor(given: str, unit: str) -> float:
    """Factor converting a value in the unit the learner typed to the question's unit."""
    if not given:
        return 1.0
    rate_q, rate_g = unit.strip().endswith("/s"), given.endswith("/s")
    if rate_g and not rate_q:
        raise ValueError(f"'{given}' is a rate, but the answer is in {unit or 'plain numbers'}")
    if rate_q:
        unit, given = unit.strip()[:-2], given[:-2] if rate_g else given
    target, source = _family(unit), _family(given)
    if target is not None:
        if source is None or source[0] is not target[0]:
            raise ValueError(f"'{given}' cannot be converted to {unit}")
        return source[1] / target[1]
    # A count (params, tokens, messages, or no unit): accept a multiplier and the noun, e.g. "7 billion params".
    words = given.split()
    noun = unit.strip().lower().rstrip("s")
    if words and noun and words[-1].lower().rstrip("s") == noun:
        words = words[:-1]
    if len(words) > 1 or (words and words[0] not in _MULTIPLIERS):
        raise ValueError(f"'{given}' is not a unit of {unit or 'a plain number'}")
    return float(_MULTIPLIERS[words[0] if words else ""])


def format_quantity(value: float, unit: str = "", shown: str | None = None) -> str:
    """Readable number with its unit (written as `shown`, e.g. 字节, when given); bytes also in binary units
    (2,147,483,648 bytes = 2 GiB)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:.4g}"
    text = f"{text} {unit if shown is None else shown}".strip()
    if unit in ("B", "byte", "bytes") and abs(value) >= 2**10:
        size = value
        for name in ("TiB", "GiB", "MiB", "KiB"):
            if abs(size) >= _BYTES[name]:
                text += f" = {size / _BYTES[name]:.3g} {name}"
                break
    return text


# ----------------------------------------------------------------------------------------------------------
# Questions
# ----------------------------------------------------------------------------------------------------------


def _pick(en: str, zh: str, lang: str) -> str:
    """The Chinese text when asked for and present, else the English."""
    return zh if lang == "zh" and zh else en


@dataclass(frozen=True)
class Option:
    """One answer option (or one line of a spot-the-bug snippet) with its explanation, in English and Chinese."""

    text: str
    correct: bool
    why: str
    text_zh: str = ""
    why_zh: str = ""

    def label(self, lang: str = "en") -> str:
        """The option's text in a language (a bug line's code is the same in every language)."""
        return _pick(self.text, self.text_zh, lang)

    def reason(self, lang: str = "en") -> str:
        """Why the option is right or wrong, in a language."""
        return _pick(self.why, self.why_zh, lang)


@dataclass(frozen=True)
class Trap:
    """A popular wrong numeric answer and why people give it."""

    value: float
    why: str
    why_zh: str = ""


@dataclass(frozen=True)
class Question:
    """One quiz question. Responses to `grade`: an option (or line) index, a set of indices, or a number."""

    id: str
    module: str
    type: str
    prompt: str
    why: str = ""
    options: tuple[Option, ...] = ()
    answer: float | None = None
    rel_tol: float = 0.01
    unit: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    abs_tol: float = 0.0
    factor: float = 1.25
    traps: tuple[Trap, ...] = ()
    fix: str = ""
    prompt_zh: str = ""
    why_zh: str = ""
    fix_zh: str = ""
    unit_zh: str = ""
    bank: str = ""
    compute: dict | None = field(default=None, compare=False, hash=False)

    @property
    def key(self) -> str:
        """Where the progress file records this question: '<bank>:<id>'."""
        return f"{self.bank or self.module}:{self.id}"

    @property
    def topics(self) -> tuple[str, ...]:
        """Interview topics this question counts towards: its topic tags, else those of its module."""
        return tuple(t for t in self.tags if t in TOPICS) or MODULE_TOPICS.get(self.module, ())

    @property
    def translated(self) -> bool:
        """True when every text of the question a learner reads has its Chinese (loading checks that a question
        is translated whole or not at all)."""
        return bool(self.prompt_zh) and (not self.why or bool(self.why_zh)) and (not self.fix or bool(self.fix_zh)) \
            and all(o.why_zh and o.text_zh for o in self.options) and all(t.why_zh for t in self.traps) \
            and (not unit_is_word(self.unit) or bool(self.unit_zh))

    def text(self, lang: str = "en") -> str:
        """The prompt in a language ('en' or 'zh'); English when there is no translation."""
        return _pick(self.prompt, self.prompt_zh, lang)

    def unit_text(self, lang: str = "en") -> str:
        """The unit as shown to the learner: its Chinese word where it is a word, else the symbol."""
        return _pick(self.unit, self.unit_zh, lang)

    def accepts(self, value: float) -> bool:
        """True when a number is within this question's tolerance of the answer."""
        if self.answer is None or not math.isfinite(value):
            return False
        if self.type == "estimate":
            if value == 0 or (value > 0) != (self.answer > 0):
                return value == self.answer
            return abs(math.log(value / self.answer)) <= math.log(self.factor) + 1e-12
        return math.isclose(value, self.answer, rel_tol=self.rel_tol, abs_tol=self.abs_tol)

    def _near(self, value: float, trap: float) -> bool:
        """True when a wrong number is (within rounding) a known trap."""
        if self.type == "estimate" and value * trap > 0:
            return abs(math.log(value / trap)) <= math.log(self.factor)
        return math.isclose(value, trap, rel_tol=max(self.rel_tol, 0.005), abs_tol=self.abs_tol)

    def grade(self, response: Any, lang: str = "en") -> tuple[bool, str]:
        """Score a response: (correct, feedback text that explains every option, or the number)."""
        result = self.explain(response, lang)
        return result.ok, result.text()

    def explain(self, response: Any, lang: str = "en") -> Feedback:
        """The verdict, an explanation for every option (or line), and notes such as a matched trap."""
        check_lang(lang)
        if self.type in ("numeric", "estimate"):
            return self._explain_number(response, lang)
        if isinstance(response, (str, bytes)):
            return Feedback(False, msg("expected_index", lang, response=repr(response)), lang=lang)
        chosen = {int(response)} if hasattr(response, "__index__") else {int(i) for i in (response or ())}
        bad = [i for i in chosen if not 0 <= i < len(self.options)]
        if bad:
            return Feedback(False, msg("no_such_option", lang, i=bad[0], last=len(self.options) - 1), lang=lang)
        ok = chosen == {i for i, o in enumerate(self.options) if o.correct}
        why = _pick(self.why, self.why_zh, lang)
        notes = [why] if why else []
        if self.type == "bug":
            items = [(msg("mark_bug" if o.correct else "mark_fine", lang),
                      msg("line", lang, n=i + 1, code=o.text), o.reason(lang), i in chosen)
                     for i, o in enumerate(self.options)]
            fix = _pick(self.fix, self.fix_zh, lang)
            notes = ([msg("fix", lang, fix=fix)] if fix else []) + notes
            return Feedback(ok, msg("bug_correct" if ok else "not_quite", lang), items, notes, lang)
        items = [("✔" if o.correct else "✘", o.label(lang), o.reason(lang), i in chosen)
                 for i, o in enumerate(self.options)]
        return Feedback(ok, msg("correct" if ok else "not_quite", lang), items, notes, lang)

    def _explain_number(self, response: Any, lang: str = "en") -> Feedback:
        why = _pick(self.why, self.why_zh, lang)
        unit = self.unit_text(lang)
        if self.unit_zh and isinstance(response, str) and response.strip().endswith(self.unit_zh):
            response = response.strip()[: -len(self.unit_zh)]  # "70亿 个参数" typed with the Chinese unit
        try:
            value = parse_quantity(response, self.unit)
        except ValueError as exc:
            example = msg("example_unit", lang, unit=unit) if unit else msg("example", lang)
            return Feedback(False, msg("not_a_number", lang, reason=exc, response=response, example=example),
                            notes=[why], lang=lang)
        answer = format_quantity(self.answer, self.unit, unit)
        ok = self.accepts(value)
        given = format_quantity(value, self.unit, unit)
        if self.type == "estimate":
            ratio = value / self.answer if self.answer else math.inf
            if ok:
                head = msg("estimate_good", lang, given=given, factor=f"{self.factor:g}", answer=answer)
            elif ratio > 0:
                way = msg("too_high" if ratio > 1 else "too_low", lang)
                head = msg("estimate_off", lang, ratio=f"{max(ratio, 1 / ratio):.3g}", way=way, answer=answer)
            else:
                head = msg("wrong_sign", lang, answer=answer)
        else:
            head = msg("correct", lang) if ok else msg("number_wrong", lang, given=given, answer=answer)
        notes = [] if ok else [msg("trap", lang, why=_pick(t.why, t.why_zh, lang))
                               for t in self.traps if self._near(value, t.value)]
        return Feedback(ok, head, notes=notes + [why], lang=lang)


@dataclass
class Feedback:
    """What a learner sees after checking an answer: verdict, explained options, notes."""

    ok: bool
    verdict: str
    items: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (mark, label, why, picked)
    notes: list[str] = field(default_factory=list)
    lang: str = "en"

    def text(self) -> str:
        """Plain-text form: one option per line, its explanation indented under it."""
        lines = [self.verdict]
        mine = msg("your_answer_text", self.lang)
        for mark, label, why, picked in self.items:
            lines.append(f"  {mark} {label}{mine if picked else ''}")
            lines.append(f"      {why}")
        return "\n".join(lines + [n for n in self.notes if n])

    def html(self, note: str = "") -> str:
        """HTML form for the widget."""
        color = "#1a7f37" if self.ok else "#c62828"
        mine = html.escape(msg("your_answer_html", self.lang))
        items = "".join(
            f"<li><b>{_inline(mark)} {_inline(label)}</b>{f' <i>{mine}</i>' if picked else ''}<br>"
            f"{_inline(why)}</li>" for mark, label, why, picked in self.items)
        notes = "".join(f"<div>{_inline(n)}</div>" for n in self.notes if n)
        extra = f"<div><i>{html.escape(note)}</i></div>" if note else ""
        return (f'<div class="llmcourse-verdict" style="color:{color};font-weight:bold">{_inline(self.verdict)}'
                f"</div><ul>{items}</ul>{notes}{extra}")


def _str(raw: dict, key: str, where: str, required: bool = True) -> str:
    value = raw.get(key, "")
    if not isinstance(value, str) or (required and not value.strip()):
        raise QuizError(f"{where}: needs a non-empty string {key!r}")
    return value


def _number(raw: dict, key: str, where: str, default: float | None = None) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise QuizError(f"{where}: {key!r} must be a finite number")
    return float(value)


CJK_RE = re.compile(r"[\u3400-\u9fff]")
_UNIT_WORD_RE = re.compile(r"[a-z]{3,}")


def unit_is_word(unit: str) -> bool:
    """True when a unit is a word a Chinese reader needs translated ('params', 'bytes', 'tokens/s'), not a
    symbol read the same in Chinese ('s', 'MiB', 'FLOPs', 'dB', '%')."""
    return any(_UNIT_WORD_RE.fullmatch(part) for part in re.split(r"[/\s]+", unit.strip()))


def zh_fields(raw: dict) -> list[tuple[str, str, str]]:
    """Every Chinese field a translated question must carry: (where, key, English text) in document order."""
    out = [("", "prompt", raw.get("prompt", ""))]
    if raw.get("why"):
        out.append(("", "why", raw["why"]))
    if isinstance(raw.get("unit"), str) and unit_is_word(raw["unit"]):
        out.append(("", "unit", raw["unit"]))
    for j, o in enumerate(raw.get("options") or []):
        out += [(f"option {j}", "text", o.get("text", "")), (f"option {j}", "why", o.get("why", ""))]
    for j, line in enumerate(raw.get("lines") or []):
        out.append((f"line {j + 1}", "why", line.get("why", "")))
        if line.get("fix"):
            out.append((f"line {j + 1}", "fix", line["fix"]))
    for j, t in enumerate(raw.get("traps") or []):
        out.append((f"trap {j}", "why", t.get("why", "")))
    return out


def _parts(raw: dict) -> dict[str, dict]:
    """The objects of a question that carry text: '' (the question), 'option j', 'line j', 'trap j'."""
    parts = {"": raw}
    for name, key, base in (("option", "options", 0), ("line", "lines", 1), ("trap", "traps", 0)):
        for j, item in enumerate(raw.get(key) or []):
            if isinstance(item, dict):
                parts[f"{name} {j + base}"] = item
    return parts




def check_translation(raw: dict, where: str) -> bool:
    """Check a question's Chinese: none at all, or every learner-facing text translated. True when translated.

    Raises QuizError naming the first missing field, so that a half-translated question (a Chinese prompt with
    English options) never loads and never shows English silently in the Chinese view.
    """
    parts = _parts(raw)
    present = [(name, k) for name, obj in parts.items() for k in obj if k.endswith("_zh")]
    if not present:
        return False
    for name, k in present:
        obj = parts[name]
        base = k[:-3]
        if base not in obj or base in ("code", "id", "type"):
            raise QuizError(f"{where}: {(name + ' ') if name else ''}has {k!r} but no {base!r} to translate")
        if not isinstance(obj[k], str) or not obj[k].strip():
            raise QuizError(f"{where}: {(name + ' ') if name else ''}{k!r} must be a non-empty string")
    for name, key, _ in zh_fields(raw):
        value = parts.get(name, {}).get(f"{key}_zh")
        if not isinstance(value, str) or not value.strip():
            raise QuizError(f"{where}: translated only in part: {(name + ' ') if name else ''}needs {key + '_zh'!r} "
                            f"(a question with any Chinese carries Chinese for every text a learner reads)")
        if key in ("prompt", "why") and not CJK_RE.search(value):
            raise QuizError(f"{where}: {(name + ' ') if name else ''}{key + '_zh'!r} holds no Chinese text")
    return True


def _parse(module: str, raw: dict, where: str, bank: str = "") -> Question:
    """One question from its JSON form; raises QuizError naming the file and question."""
    if not isinstance(raw, dict):
        raise QuizError(f"{where}: a question is a JSON object")
    for key in ("id", "type", "prompt"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise QuizError(f"{where}: question needs a non-empty string {key!r}")
    qid, qtype = raw["id"], raw["type"]
    where = f"{where} ({qid})"
    if qtype not in TYPES:
        raise QuizError(f"{where}: type must be one of {TYPES}")
    module = raw.get("module", module)
    if not isinstance(module, str) or not MODULE_RE.match(module):
        raise QuizError(f"{where}: 'module' must name a course module such as '01_attention'")
    tags = raw.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise QuizError(f"{where}: 'tags' must be a list of strings")
    compute = raw.get("compute")
    if compute is not None and (not isinstance(compute, dict) or not isinstance(compute.get("fn"), str)
                                or not isinstance(compute.get("args", {}), dict)):
        raise QuizError(f"{where}: 'compute' is {{\"fn\": name, \"args\": {{...}}}}")
    check_translation(raw, where)
    common = dict(id=qid, module=module, type=qtype, prompt=raw["prompt"], tags=tuple(tags), bank=bank,
                  prompt_zh=_str(raw, "prompt_zh", where, required=False), why=raw.get("why", "") or "",
                  why_zh=_str(raw, "why_zh", where, required=False), compute=compute)
    if not isinstance(common["why"], str):
        raise QuizError(f"{where}: 'why' must be a string")
    if qtype in ("numeric", "estimate"):
        if not isinstance(raw.get("answer"), (int, float)) or not raw.get("why"):
            raise QuizError(f"{where}: a {qtype} question needs 'answer' and 'why'")
        answer = _number(raw, "answer", where)
        traps = []
        for j, t in enumerate(raw.get("traps", [])):
            if not isinstance(t, dict) or not isinstance(t.get("why"), str) or not t["why"]:
                raise QuizError(f"{where}: trap {j} needs 'value' and 'why'")
            traps.append(Trap(_number(t, "value", f"{where} trap {j}"), t["why"], t.get("why_zh", "")))
        q = Question(**common, answer=answer, rel_tol=_number(raw, "rel_tol", where, 0.01),
                     abs_tol=_number(raw, "abs_tol", where, 0.0), factor=_number(raw, "factor", where, 1.25),
                     unit=_str(raw, "unit", where, required=False), traps=tuple(traps),
                     unit_zh=_str(raw, "unit_zh", where, required=False))
        if q.factor <= 1 or q.rel_tol < 0 or q.abs_tol < 0:
            raise QuizError(f"{where}: needs factor > 1 and non-negative tolerances")
        return q
    if qtype == "bug":
        lines = raw.get("lines")
        if not isinstance(lines, list) or len(lines) < 3:
            raise QuizError(f"{where}: a bug question needs 'lines' (3 or more)")
        options = []
        for j, line in enumerate(lines):
            if not isinstance(line, dict) or not isinstance(line.get("code"), str) or not line.get("why"):
                raise QuizError(f"{where}: line {j + 1} needs 'code' and a 'why' explanation")
            options.append(Option(line["code"], bool(line.get("bug", False)), line["why"],
                                  line["code"] if line.get("why_zh") else "", line.get("why_zh", "")))
        if sum(o.correct for o in options) != 1:
            raise QuizError(f"{where}: exactly one line must have \"bug\": true")
        buggy = next(line for line in lines if line.get("bug"))
        fix, fix_zh = buggy.get("fix", ""), buggy.get("fix_zh", "")
        return Question(**common, options=tuple(options), fix=fix if isinstance(fix, str) else "",
                        fix_zh=fix_zh if isinstance(fix_zh, str) else "")
    options = []
    for j, o in enumerate(raw.get("options", [])):
        if not isinstance(o, dict) or not isinstance(o.get("text"), str) or not isinstance(o.get("why"), str) \
                or not o["why"]:
            raise QuizError(f"{where}: option {j} needs 'text' and a 'why' explanation")
        options.append(Option(o["text"], bool(o.get("correct", False)), o["why"], o.get("text_zh", ""),
                              o.get("why_zh", "")))
    n_right = sum(o.correct for o in options)
    if len(options) < 2 or n_right == 0 or (qtype == "single" and n_right != 1):
        raise QuizError(f"{where}: needs 2+ options and exactly the right number correct")
    return Question(**common, options=tuple(options))


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise QuizError(f"{path.name}: not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        raise QuizError(f"{path.name}: a bank is an object with a 'questions' list")
    return data


def _questions(data: dict, module: str, bank: str, name: str, extra_tags: tuple[str, ...] = ()) -> tuple:
    questions = []
    for i, raw in enumerate(data["questions"]):
        q = _parse(module, raw, f"{name}[{i}]", bank)
        if extra_tags:
            q = dataclasses.replace(q, tags=extra_tags + tuple(t for t in q.tags if t not in extra_tags))
        questions.append(q)
    ids = [q.id for q in questions]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise QuizError(f"{name}: duplicate question ids {dup}")
    return tuple(questions)


@lru_cache(maxsize=64)
def load_bank(module: str) -> tuple[Question, ...]:
    """All questions of one module's bank (quizbank/<module>.json), validated."""
    path = BANK_DIR / f"{module}.json"
    if not path.exists():
        raise QuizError(f"no quiz bank for {module!r} ({path.name} missing)")
    data = _read_json(path)
    if data.get("module") != module:
        raise QuizError(f"{path.name}: 'module' must be {module!r}")
    return _questions(data, module, module, path.name)


@lru_cache(maxsize=64)
def load_topic(topic: str) -> tuple[Question, ...]:
    """All questions of one interview topic's bank (quizbank/topics/<topic>.json), validated."""
    path = BANK_DIR / "topics" / f"{topic}.json"
    if not path.exists():
        raise QuizError(f"no topic bank for {topic!r} (topics/{path.name} missing)")
    data = _read_json(path)
    if data.get("topic") != topic:
        raise QuizError(f"topics/{path.name}: 'topic' must be {topic!r}")
    module = data.get("module")
    if not isinstance(module, str) or not MODULE_RE.match(module):
        raise QuizError(f"topics/{path.name}: needs a default 'module' such as '01_attention'")
    return _questions(data, module, f"topics/{topic}", f"topics/{path.name}", extra_tags=(topic,))


def module_banks() -> list[str]:
    """Names of the module banks that exist, sorted."""
    return sorted(p.stem for p in BANK_DIR.glob("*.json") if MODULE_RE.match(p.stem))


def topic_banks() -> list[str]:
    """Names of the topic banks that exist, in TOPICS order (unknown ones last)."""
    found = {p.stem for p in (BANK_DIR / "topics").glob("*.json")}
    return [t for t in TOPICS if t in found] + sorted(found - set(TOPICS))


def all_questions() -> list[Question]:
    """Every question of every module bank and topic bank."""
    out: list[Question] = []
    for m in module_banks():
        out.extend(load_bank(m))
    for t in topic_banks():
        out.extend(load_topic(t))
    return out


def find(question_id: str) -> Question:
    """The question with this id (ids are unique across all banks)."""
    for q in all_questions():
        if q.id == question_id:
            return q
    raise QuizError(f"no question with id {question_id!r}")


def select(topic: str | Iterable[str] | None = None, module: str | Iterable[str] | None = None,
           n: int | None = None, seed: int | None = None, mistakes: bool = False,
           types: Iterable[str] | None = None) -> list[Question]:
    """Questions for a drill: filter by topic(s), module(s), type(s) and past mistakes, then draw n of them."""
    topics = {topic} if isinstance(topic, str) else set(topic or ())
    modules = {module} if isinstance(module, str) else set(module or ())
    unknown = topics - set(TOPICS)
    if unknown:
        raise QuizError(f"unknown topic(s) {sorted(unknown)}; choose from {list(TOPICS)}")
    pool = [q for q in all_questions()
            if (not topics or topics & set(q.topics)) and (not modules or q.module in modules)
            and (types is None or q.type in set(types))]
    if mistakes:
        wrong = set(mistake_keys())
        pool = [q for q in pool if q.key in wrong]
    rng = random.Random(seed)
    rng.shuffle(pool)
    return pool if n is None else pool[:n]


# ----------------------------------------------------------------------------------------------------------
# The learner: seed and progress file
# ----------------------------------------------------------------------------------------------------------


def learner() -> str:
    """Who is taking the quiz: LLMCOURSE_LEARNER, else the login name."""
    name = os.environ.get(LEARNER_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "learner"


def learner_seed() -> int:
    """A seed fixed for this learner: the same option order every session, different between learners."""
    return zlib.crc32(learner().encode("utf-8")) % (2**31)


def shuffled_options(question: Question, seed: int | None = None) -> list[int]:
    """Display order of a question's options, fixed for a given seed and question; bug lines keep their order."""
    order = list(range(len(question.options)))
    if question.type != "bug":
        random.Random(f"{learner_seed() if seed is None else seed}:{question.id}").shuffle(order)
    return order


def progress_path() -> Path:
    """The progress file: $LLMCOURSE_PROGRESS, else ~/.llmcourse/progress.json."""
    env = os.environ.get(PROGRESS_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    try:
        home = Path.home()
    except (RuntimeError, KeyError):  # no home folder (some sandboxes): keep progress for this session only
        home = Path(tempfile.gettempdir())
    return home / ".llmcourse" / "progress.json"


def load_progress() -> dict:
    """The learner's progress ({"version": 1, "answers": {key: entry}}); empty when there is none yet."""
    path = progress_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"version": 1, "answers": {}}
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return {"version": 1, "answers": {}, "unreadable": True}
    if not isinstance(data, dict) or not isinstance(data.get("answers"), dict):
        return {"version": 1, "answers": {}, "unreadable": True}
    return data


def _jsonable(response: Any) -> Any:
    if isinstance(response, (set, frozenset, tuple, list)):
        return sorted(int(i) for i in response)
    if isinstance(response, (int, float, str)) or response is None:
        return response
    return str(response)


def _write_progress(data: dict) -> Path:
    """Write the progress file atomically (keeping a damaged one aside) and return its path."""
    path = progress_path()
    if data.pop("unreadable", False) and path.exists():
        path.replace(path.with_name(path.name + ".broken"))  # keep the damaged file, start a new one
    data["learner"] = learner()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, ensure_ascii=False)
    os.replace(tmp, path)
    return path


def record(question: Question, response: Any, ok: bool) -> Path:
    """Add one attempt to the progress file (written atomically) and return its path."""
    data = load_progress()
    entry = data["answers"].setdefault(question.key, {"module": question.module, "attempts": 0, "right": 0})
    entry["attempts"] += 1
    entry["right"] += int(bool(ok))
    entry.setdefault("first_ok", bool(ok))
    entry.update(last_ok=bool(ok), last=_jsonable(response), topics=list(question.topics),
                 when=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    return _write_progress(data)


def language() -> str:
    """The learner's quiz language as remembered in the progress file ('en' when never chosen)."""
    lang = load_progress().get("lang", "en")
    return lang if lang in LANGS else "en"


def set_language(lang: str) -> str:
    """Choose the quiz language ('en' or 'zh') for every quiz, now and in later sessions; returns it.

    The choice is kept in the progress file beside the answers. Quizzes and progress tables then speak it
    unless a call names another `lang`.
    """
    check_lang(lang)
    data = load_progress()
    if data.get("lang") != lang:
        data["lang"] = lang
        try:
            _write_progress(data)
        except OSError:
            pass  # a read-only home: the choice holds for this call only
    return lang


def _lang(lang: str | None) -> str:
    """The language a call asked for, else the remembered one."""
    return language() if lang is None else check_lang(lang)


def mistake_keys() -> list[str]:
    """Progress keys of the questions whose latest attempt was wrong."""
    return sorted(k for k, e in load_progress()["answers"].items() if not e.get("last_ok", True))


def mistakes() -> list[Question]:
    """The questions whose latest attempt was wrong, in bank order."""
    wrong = set(mistake_keys())
    return [q for q in all_questions() if q.key in wrong]


def progress_table(lang: str = "en") -> list[dict]:
    """One row per module and per topic: questions, answered, right at the last try, right first time, to review."""
    check_lang(lang)
    answers = load_progress()["answers"]
    questions = all_questions()
    rows = []
    groups = [("module", m, (MODULES_ZH if lang == "zh" else MODULES).get(m, ""),
               [q for q in questions if q.module == m]) for m in sorted({q.module for q in questions})]
    groups += [("topic", t, TOPICS[t][1 if lang == "zh" else 0], [q for q in questions if t in q.topics])
               for t in TOPICS]
    for kind, name, title, qs in groups:
        if not qs:
            continue
        seen = [answers[q.key] for q in qs if q.key in answers]
        rows.append({"kind": kind, "name": name, "title": title, "questions": len(qs), "answered": len(seen),
                     "right": sum(bool(e.get("last_ok")) for e in seen),
                     "first_try": sum(bool(e.get("first_ok")) for e in seen),
                     "review": sum(not e.get("last_ok", True) for e in seen)})
    return rows


def _width(text: str) -> int:
    """Columns a string takes in a terminal: Chinese characters take two."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _pad(text: str, width: int, right: bool = False) -> str:
    space = " " * max(width - _width(text), 0)
    return space + text if right else text + space


_COLUMNS = ("questions", "answered", "right", "first_try", "review")


def progress_text(lang: str | None = None) -> str:
    """The progress table as text, in the chosen (else the remembered) language."""
    lang = _lang(lang)
    heads = [msg(f"col_{c}", lang) for c in _COLUMNS]
    widths = [max(_width(h) + 2, 7) for h in heads]
    lines = [msg("progress_of", lang, learner=learner(), path=progress_path()),
             _pad("", 8) + _pad(msg("col_name", lang), 24)
             + "".join(_pad(h, w, right=True) for h, w in zip(heads, widths, strict=True))]
    for r in progress_table(lang):
        lines.append(_pad(msg(f"kind_{r['kind']}", lang), 8) + _pad(r["name"], 24)
                     + "".join(_pad(str(r[c]), w, right=True) for c, w in zip(_COLUMNS, widths, strict=True)))
    return "\n".join(lines)


def progress(lang: str | None = None) -> None:
    """Show progress across modules and topics (a table; widgets not needed)."""
    lang = _lang(lang)
    rows = progress_table(lang)
    if _frontend() != "widgets":
        print(progress_text(lang))
        return
    from IPython.display import HTML, display

    def bar(r: dict) -> str:
        width = 120
        right = round(width * r["right"] / r["questions"])
        wrong = round(width * r["review"] / r["questions"])
        return (f'<div style="display:flex;width:{width}px;height:10px;background:#eee">'
                f'<div style="width:{right}px;background:#3a3"></div>'
                f'<div style="width:{wrong}px;background:#d44"></div></div>')

    body = "".join(
        f"<tr><td>{html.escape(msg('kind_' + r['kind'], lang))}</td><td><code>{html.escape(r['name'])}</code></td>"
        f"<td>{html.escape(r['title'])}</td><td>{r['questions']}</td><td>{r['answered']}</td><td>{r['right']}</td>"
        f"<td>{r['first_try']}</td><td>{r['review']}</td><td>{bar(r)}</td></tr>" for r in rows)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in
                   ["", msg("col_name", lang), msg("col_about", lang)] + [msg(f"col_{c}", lang) for c in _COLUMNS]
                   + [""])
    intro = msg("progress_html", lang, learner=html.escape(learner()), path=html.escape(str(progress_path())))
    display(HTML(f'<div class="llmcourse-progress"><p>{intro}</p><table><tr>{head}</tr>{body}</table></div>'))


# ----------------------------------------------------------------------------------------------------------
# Text mode
# ----------------------------------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def question_text(question: Question, number: int | None = None, seed: int | None = None, lang: str = "en") -> str:
    """One question as plain text, options lettered in the learner's shuffled order."""
    check_lang(lang)
    head = f"{number}. " if number is not None else ""
    missing = msg("no_translation", lang) if lang == "zh" and not question.translated else ""
    lines = [f"{head}{question.text(lang)}{missing}  [{question.id}]"]
    if question.type == "bug":
        lines += [f"   {i + 1:>2} | {o.text}" for i, o in enumerate(question.options)]
        lines.append("   " + msg("hint_bug", lang))
    elif question.type in ("single", "multiple"):
        for k, i in enumerate(shuffled_options(question, seed)):
            lines.append(f"   ({_LETTERS[k]}) {question.options[i].label(lang)}")
        if question.type == "multiple":
            lines.append("   " + msg("hint_multiple", lang))
    else:
        unit = question.unit_text(lang)
        kind = "hint_estimate" if question.type == "estimate" else "hint_number"
        lines.append("   " + msg(kind + ("_unit" if unit else ""), lang, unit=unit))
    return "\n".join(lines)


def quiz_text(questions: Sequence[Question], seed: int | None = None, lang: str = "en", title: str = "") -> str:
    """A whole quiz as plain text, with how to answer it."""
    parts = [title] if title else []
    parts += [question_text(q, n, seed, lang) for n, q in enumerate(questions, 1)]
    first = questions[0].id if questions else "question-id"
    parts.append(msg("how_to_answer", lang, first=first))
    return "\n\n".join(parts)


def _response_from_text(question: Question, response: Any, seed: int | None, lang: str = "en") -> Any:
    """Convert a text-mode answer (letters, a line number, a number) into what Question.grade takes."""
    if question.type in ("numeric", "estimate"):
        return response
    qid, last = question.id, len(question.options)
    if question.type == "bug":
        try:
            line = int(str(response).strip().removeprefix("line").strip())
        except ValueError:
            raise QuizError(msg("answer_line", lang, qid=qid, last=last)) from None
        if not 1 <= line <= len(question.options):
            raise QuizError(msg("no_such_line", lang, line=line, last=last))
        return line - 1
    order = shuffled_options(question, seed)
    letters = [c for c in str(response).lower() if c.isalpha()] if isinstance(response, str) else None
    if letters is None or not letters:
        raise QuizError(msg("answer_letters" if question.type == "multiple" else "answer_letter", lang, qid=qid))
    picked = []
    for c in letters:
        k = _LETTERS.find(c)
        if not 0 <= k < len(order):
            raise QuizError(msg("no_such_letter", lang, letter=c, qid=qid))
        picked.append(order[k])
    if question.type == "single":
        if len(picked) != 1:
            raise QuizError(msg("one_letter", lang, qid=qid))
        return picked[0]
    return set(picked)


def answer(*args: Any, seed: int | None = None, save: bool = True, lang: str | None = None) -> bool:
    """Text-mode answer: answer(question_id, response) or answer(module, number, response); prints feedback.

    Responses: a letter ('b') or letters ('ac') in the order the text quiz showed, a line number for a
    spot-the-bug question, or a number (with a unit if you like: '2 GiB'). Returns True when right.
    Feedback comes in `lang`, else in the language remembered in the progress file.
    """
    lang = _lang(lang)
    if len(args) == 2:
        question, response = find(str(args[0])), args[1]
    elif len(args) == 3:
        bank = load_topic(args[0][7:]) if str(args[0]).startswith("topics/") else load_bank(str(args[0]))
        number = int(args[1])
        if not 1 <= number <= len(bank):
            raise QuizError(f"{args[0]} has questions 1..{len(bank)}")
        question, response = bank[number - 1], args[2]
    else:
        raise TypeError("answer(question_id, response) or answer(module, number, response)")
    ok, text = question.grade(_response_from_text(question, response, seed, lang), lang)
    if save:
        text += _save_note(question, response, ok, lang)
    print(text)
    return ok


def _save_note(question: Question, response: Any, ok: bool, lang: str = "en") -> str:
    try:
        record(question, response, ok)
    except OSError as exc:
        return "\n(" + msg("not_saved", lang, error=exc) + ")"
    return ""


def _terminal_quiz(questions: Sequence[Question], seed: int | None, lang: str) -> None:
    """Ask the questions one by one with input(); an empty answer skips, 'q' stops."""
    right = 0
    for n, q in enumerate(questions, 1):
        print(question_text(q, n, seed, lang))
        while True:
            reply = input(msg("ask", lang)).strip()
            if reply in ("", "q"):
                break
            try:
                response = _response_from_text(q, reply, seed, lang)
            except QuizError as exc:
                print(exc)
                continue
            ok, text = q.grade(response, lang)
            print(text + _save_note(q, reply, ok, lang))
            right += ok
            break
        if reply == "q":
            break
        print()
    print(msg("score", lang, right=right, total=len(questions)))


# ----------------------------------------------------------------------------------------------------------
# Widgets
# ----------------------------------------------------------------------------------------------------------

_CSS = """<style>
.llmcourse-quiz .widget-radio-box label, .llmcourse-quiz .jupyter-widget-radio-box label {
  display: flex !important; align-items: flex-start; white-space: normal !important; height: auto !important;
  line-height: 1.4 !important; margin-bottom: 5px; }
.llmcourse-quiz .widget-radio-box input, .llmcourse-quiz .jupyter-widget-radio-box input {
  float: none !important; flex: 0 0 auto; order: -1; height: 1.4em !important; margin: 0 8px 0 1px !important; }
.llmcourse-quiz .llmcourse-bug label { font-family: var(--jp-code-font-family, monospace);
  white-space: pre !important; margin-bottom: 1px; }
.llmcourse-quiz .llmcourse-choice { white-space: normal; line-height: 1.4; }
.llmcourse-feedback ul { margin: 4px 0; padding-left: 18px; }
.llmcourse-feedback li { line-height: 1.4; margin-bottom: 5px; }
.llmcourse-question { border-left: 3px solid #888; padding-left: 10px; margin: 10px 0 14px 0; }
</style>"""


def _frontend() -> str:
    """'widgets' inside a Jupyter kernel with ipywidgets, 'terminal' for an interactive console, else 'text'."""
    forced = os.environ.get(MODE_ENV, "").strip().lower()
    if forced in ("text", "widgets"):
        return forced
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None and "ZMQ" in type(shell).__name__:
        try:
            import ipywidgets  # noqa: F401
        except ImportError:
            return "text"
        return "widgets"
    try:
        return "terminal" if sys.stdin is not None and sys.stdin.isatty() else "text"
    except (AttributeError, ValueError):
        return "text"


def _inline(text: str) -> str:
    """HTML-escape text and render `code` spans."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text))


def _question_widget(question: Question, number: int, seed: int | None, lang: str, score: dict,
                     on_answer=None):
    """(box, set_lang) for one question: prompt, input, Check button and the feedback area."""
    import ipywidgets as w

    prompt = w.HTML()
    parts = [prompt]
    state: dict[str, Any] = {"lang": lang, "response": None, "note": ""}
    labels: list = []  # (HTML widget, option index) of a multiple-choice question
    if question.type in ("numeric", "estimate"):
        box = w.Text(layout=w.Layout(width="24em"))
        box.add_class("llmcourse-number")
        get = lambda: box.value  # noqa: E731
        parts.append(box)
    elif question.type == "multiple":
        checks = []
        for i in shuffled_options(question, seed):
            cb = w.Checkbox(value=False, indent=False, layout=w.Layout(width="28px"))
            label = w.HTML()
            checks.append((cb, i))
            labels.append((label, i))
            parts.append(w.HBox([cb, label], layout=w.Layout(align_items="flex-start")))
        get = lambda: {i for cb, i in checks if cb.value}  # noqa: E731
    else:
        order = list(range(len(question.options))) if question.type == "bug" else shuffled_options(question, seed)
        box = w.RadioButtons(options=[(question.options[i].text, i) for i in order], value=None,
                             layout=w.Layout(width="auto"))
        if question.type == "bug":
            box.add_class("llmcourse-bug")
        get = lambda: box.value  # noqa: E731
        parts.append(box)
    button = w.Button(button_style="primary", icon="check")
    button.add_class("llmcourse-check")
    feedback = w.HTML()
    feedback.add_class("llmcourse-feedback")

    def set_lang(code: str) -> None:
        state["lang"] = code = check_lang(code)
        note = f" <i>{html.escape(msg('no_translation', code))}</i>" if code == "zh" and not question.translated \
            else ""
        tags = ", ".join(TOPICS[t][1] if code == "zh" else t for t in question.topics) or ", ".join(question.tags)
        prompt.value = (f"<b>{number}. {_inline(question.text(code))}</b>{note}<br>"
                        f"<span style='color:#777;font-size:85%'>{html.escape(question.module)} · "
                        f"{html.escape(tags)} · {html.escape(msg('type_' + question.type, code))} · "
                        f"<code>{html.escape(question.id)}</code></span>")
        if question.type in ("numeric", "estimate"):
            unit = question.unit_text(code)
            box.placeholder = msg("placeholder_unit", code, unit=unit) if unit else msg("placeholder", code)
        elif question.type == "single":
            picked = box.value
            box.options = [(question.options[i].label(code), i) for _, i in box.options]
            box.value = picked
        for label, i in labels:
            label.value = f'<span class="llmcourse-choice">{_inline(question.options[i].label(code))}</span>'
        button.description = msg("check", code)
        if state["response"] is not None:
            feedback.value = question.explain(state["response"], code).html(
                msg("not_saved", code, error=state["note"]) if state["note"] else "")
        elif feedback.value:
            feedback.value = ""

    def on_click(_):
        code = state["lang"]
        response = get()
        if response is None or response == set() or response == "":
            key = "type_first" if question.type in ("numeric", "estimate") else "choose_first"
            feedback.value = f"<i>{html.escape(msg(key, code))}</i>"
            state["response"] = None
            return
        result = question.explain(response, code)
        state["note"] = ""
        try:
            record(question, response, result.ok)
        except OSError as exc:
            state["note"] = str(exc)
        state["response"] = response
        score[question.key] = result.ok
        feedback.value = result.html(msg("not_saved", code, error=state["note"]) if state["note"] else "")
        if on_answer is not None:
            on_answer()

    set_lang(lang)
    button.on_click(on_click)
    parts += [button, feedback]
    box_all = w.VBox(parts)
    for name in ("llmcourse-question", f"llmcourse-q-{question.id}", f"llmcourse-type-{question.type}"):
        box_all.add_class(name)
    return box_all, set_lang


_QUIZ_CLASS = None


def _quiz_class():
    """A VBox whose plain-text form is the text quiz: frontends without widget support show that instead."""
    global _QUIZ_CLASS
    if _QUIZ_CLASS is None:
        import ipywidgets as w

        class QuizBox(w.VBox):
            plain_text = ""

            def _repr_mimebundle_(self, **kwargs):
                data = super()._repr_mimebundle_(**kwargs)
                if data:
                    data["text/plain"] = self.plain_text
                return data

        _QUIZ_CLASS = QuizBox
    return _QUIZ_CLASS


def quiz_widget(questions: Sequence[Question], seed: int | None = None, lang: str = "en",
                title: str | Callable[[str], str] = "", remember: bool = False):
    """The widget for a list of questions: a language switch, a running score.

    `title` is a string or a function of the language. With `remember`, switching the language also saves
    it as the learner's choice for later quizzes.
    """
    import ipywidgets as w

    check_lang(lang)
    current = {"lang": lang}
    score: dict[str, bool] = {}
    tally = w.HTML()
    tally.add_class("llmcourse-score")
    heading = w.HTML()
    title_of = title if callable(title) else (lambda _code: title)

    def update() -> None:
        tally.value = msg("tally", current["lang"], right=sum(score.values()), total=len(questions),
                          answered=len(score))

    items, setters = [], []
    for n, q in enumerate(questions, 1):
        box, set_lang = _question_widget(q, n, seed, lang, score, on_answer=update)
        items.append(box)
        setters.append(set_lang)
    switch = w.ToggleButtons(options=[(name, code) for code, name in LANGS.items()], value=lang,
                             description=msg("language", lang), style={"description_width": "initial"})
    switch.add_class("llmcourse-lang")

    def relabel(code: str) -> None:
        current["lang"] = code
        text = title_of(code)
        heading.value = _CSS + (f"<h4>{html.escape(text)}</h4>" if text else "")
        switch.description = msg("language", code)
        for s in setters:
            s(code)
        update()

    def switched(change) -> None:
        relabel(change["new"])
        if remember:
            set_language(change["new"])

    relabel(lang)
    switch.observe(switched, names="value")
    root = _quiz_class()([heading, switch] + items + [tally])
    root.add_class("llmcourse-quiz")
    root.plain_text = quiz_text(questions, seed, lang, title_of(lang))
    return root


def _present(questions: Sequence[Question], seed: int | None, lang: str | None, title: Callable[[str], str],
             mode: str | None, empty: str = "no_questions"):
    remember = lang is None
    lang = _lang(lang)
    mode = mode or _frontend()
    if not questions:
        print(msg(empty, lang))
        return None
    if mode == "widgets":
        from IPython.display import display

        widget = quiz_widget(questions, seed, lang, title, remember=remember)
        display(widget)
        return None
    if mode == "terminal":
        _terminal_quiz(questions, seed, lang)
        return None
    print(quiz_text(questions, seed, lang, title(lang)))
    return None


def show(module: str, seed: int | None = None, lang: str | None = None, mode: str | None = None) -> None:
    """The quiz of one module: widgets in Jupyter, questions and quiz.answer(...) instructions elsewhere.

    `lang` ('en' or 'zh') defaults to the language the learner last chose (saved in the progress file).
    """
    questions = load_bank(module)
    _present(questions, seed, lang, lambda code: msg("quiz_title", code, module=module), mode)


def drill(topic: str | Iterable[str] | None = None, n: int | None = 10, module: str | Iterable[str] | None = None,
          seed: int | None = None, lang: str | None = None, mistakes: bool = False, mode: str | None = None) -> None:
    """An interview drill: n questions (None = all) from every bank, for a topic, several, or all (None)."""
    questions = select(topic, module, n=n, seed=seed, mistakes=mistakes)
    names = [topic] if isinstance(topic, str) else list(topic or [])

    def title(code: str) -> str:
        what = ", ".join(TOPICS[t][1] if code == "zh" else t for t in names) or msg("all_topics", code)
        return msg("review_title" if mistakes else "drill_title", code, what=what, n=len(questions))

    _present(questions, None, lang, title, mode, empty="no_mistakes" if mistakes else "no_questions")


def review(topic: str | Iterable[str] | None = None, n: int | None = None, lang: str | None = None,
           mode: str | None = None) -> None:
    """Review my mistakes: the questions whose latest answer was wrong (all of them unless n is given)."""
    drill(topic, n=n, lang=lang, mistakes=True, mode=mode)


def topics() -> list[tuple[str, str, int]]:
    """The interview topics with their English title and number of questions (all banks); also printed."""
    questions = all_questions()
    rows = [(t, TOPICS[t][0], sum(t in q.topics for q in questions)) for t in TOPICS]
    for t, title, count in rows:
        print(f"{t:<24}{count:>4}  {title} / {TOPICS[t][1]}")
    return rows


# ----------------------------------------------------------------------------------------------------------
# Graded answers: a helper that writes the variable, never the grader
# ----------------------------------------------------------------------------------------------------------


def answer_line(name: str, value: Any) -> str:
    """The Python line that sets a graded answer variable, e.g. "heads_axis = 'b'"."""
    if isinstance(value, (set, frozenset)):
        value = "".join(sorted(value))
    return f"{name} = {value!r}"


def answer_box(name: str, choices: Sequence[str] | None = None, multiple: bool = False, unit: str = "",
               choices_zh: Sequence[str] | None = None, lang: str | None = None) -> None:
    """Help fill a graded answer variable: pick (or type) an answer, get the line to put in the answer cell.

    The widget also sets the variable in the notebook right away, but nbgrader runs the notebook from the
    top without widgets, so only the line written in the answer cell counts. Choices are labelled a, b, c...
    in the order given (graded questions are not shuffled). The box speaks the quiz language (`lang`, else the
    remembered one); `choices_zh` are the choices' Chinese labels, used when that language is 'zh'.
    """
    lang = _lang(lang)
    if choices_zh is not None and len(choices_zh) != len(choices or ()):
        raise QuizError(f"answer_box({name!r}): {len(choices_zh)} Chinese labels for {len(choices or ())} choices")
    if lang == "zh" and choices_zh is not None:
        choices = choices_zh
    letters = _LETTERS[: len(choices or ())]
    number = msg("box_number_unit", lang, unit=unit) if unit else msg("box_number", lang)
    if _frontend() != "widgets":
        if choices:
            for c, text in zip(letters, choices, strict=True):
                print(f"   ({c}) {text}")
            example = "'ac'" if multiple else "'b'"
            print(msg("box_write_letters" if multiple else "box_write_letter", lang, name=name, example=example))
        else:
            print(msg("box_write_number", lang, name=name, number=number))
        return
    import ipywidgets as w
    from IPython import get_ipython
    from IPython.display import display

    line = w.HTML()
    line.add_class("llmcourse-answer-line")

    def publish(value: Any) -> None:
        if value in (None, "", set()):
            line.value = ""
            return
        text = answer_line(name, value)
        shell = get_ipython()
        if shell is not None:
            shell.user_ns[name] = "".join(sorted(value)) if isinstance(value, set) else value
        line.value = msg("box_now_set", lang, name=html.escape(name), line=html.escape(text))

    if choices and multiple:
        boxes = [w.Checkbox(value=False, description=f"({c}) {t}", indent=False, layout=w.Layout(width="auto"))
                 for c, t in zip(letters, choices, strict=True)]

        def changed(_):
            publish({c for c, b in zip(letters, boxes, strict=True) if b.value})

        for b in boxes:
            b.observe(changed, names="value")
        display(w.VBox([*boxes, line]))
    elif choices:
        radio = w.RadioButtons(options=[(f"({c}) {t}", c) for c, t in zip(letters, choices, strict=True)],
                               value=None, layout=w.Layout(width="auto"))
        radio.observe(lambda change: publish(change["new"]), names="value")
        display(w.VBox([radio, line]))
    else:
        text = w.Text(placeholder=number)

        def typed(change):
            try:
                value = parse_quantity(change["new"], unit)
                publish(int(value) if value.is_integer() and abs(value) < 2**53 else value)
            except ValueError:
                line.value = f"<i>{msg('box_not_number', lang)}</i>" if change["new"].strip() else ""

        text.observe(typed, names="value")
        display(w.VBox([text, line]))
