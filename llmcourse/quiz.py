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
        "prompt_zh": "...",                           # optional Chinese translation of the prompt
        "options": [{"text": "...", "correct": true, "why": "..."}, {"text": "...", "why": "..."}]},
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
import zlib
from collections.abc import Iterable, Sequence
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
}


class QuizError(ValueError):
    """A question bank is malformed, or an answer refers to no question; the message says which."""


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


def format_quantity(value: float, unit: str = "") -> str:
    """Readable number with its unit; bytes also in binary units (2,147,483,648 bytes = 2 GiB)."""
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        text = f"{int(value):,}"
    else:
        text = f"{value:.4g}"
    text = f"{text} {unit}".strip()
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


@dataclass(frozen=True)
class Option:
    """One answer option (or one line of a spot-the-bug snippet) with its explanation."""

    text: str
    correct: bool
    why: str


@dataclass(frozen=True)
class Trap:
    """A popular wrong numeric answer and why people give it."""

    value: float
    why: str


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

    def text(self, lang: str = "en") -> str:
        """The prompt in a language ('en' or 'zh'); English when there is no translation."""
        return self.prompt_zh if lang == "zh" and self.prompt_zh else self.prompt

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

    def grade(self, response: Any) -> tuple[bool, str]:
        """Score a response: (correct, feedback text that explains every option, or the number)."""
        result = self.explain(response)
        return result.ok, result.text()

    def explain(self, response: Any) -> Feedback:
        """The verdict, an explanation for every option (or line), and notes such as a matched trap."""
        if self.type in ("numeric", "estimate"):
            return self._explain_number(response)
        if isinstance(response, (str, bytes)):
            return Feedback(False, f"Expected an option index, got {response!r}.")
        chosen = {int(response)} if hasattr(response, "__index__") else {int(i) for i in (response or ())}
        bad = [i for i in chosen if not 0 <= i < len(self.options)]
        if bad:
            return Feedback(False, f"Option {bad[0]} does not exist: choose 0..{len(self.options) - 1}.")
        ok = chosen == {i for i, o in enumerate(self.options) if o.correct}
        notes = [self.why] if self.why else []
        if self.type == "bug":
            items = [("✘ bug" if o.correct else "✔ fine", f"line {i + 1}: `{o.text}`", o.why, i in chosen)
                     for i, o in enumerate(self.options)]
            notes = ([f"Fix: {self.fix}"] if self.fix else []) + notes
            return Feedback(ok, "Correct: that is the buggy line." if ok else "Not quite.", items, notes)
        items = [("✔" if o.correct else "✘", o.text, o.why, i in chosen) for i, o in enumerate(self.options)]
        return Feedback(ok, "Correct." if ok else "Not quite.", items, notes)

    def _explain_number(self, response: Any) -> Feedback:
        try:
            value = parse_quantity(response, self.unit)
        except ValueError as exc:
            example = f"4096, 4096 {self.unit} or 2*32*64" if self.unit else "4096 or 2*32*64"
            return Feedback(False, f"{exc}. Type a number such as {example}.", notes=[self.why])
        answer = format_quantity(self.answer, self.unit)
        ok = self.accepts(value)
        given = format_quantity(value, self.unit)
        if self.type == "estimate":
            ratio = value / self.answer if self.answer else math.inf
            if ok:
                head = f"Good estimate: {given} is within {self.factor:g}× of {answer}."
            elif ratio > 0:
                way = "too high" if ratio > 1 else "too low"
                head = f"Off by {max(ratio, 1 / ratio):.3g}× ({way}): the answer is about {answer}."
            else:
                head = f"The sign is wrong: the answer is about {answer}."
        else:
            head = "Correct." if ok else f"Not quite: you gave {given}, the answer is {answer}."
        notes = [] if ok else [f"A popular wrong answer: {t.why}" for t in self.traps if self._near(value, t.value)]
        return Feedback(ok, head, notes=notes + [self.why])


@dataclass
class Feedback:
    """What a learner sees after checking an answer: verdict, explained options, notes."""

    ok: bool
    verdict: str
    items: list[tuple[str, str, str, bool]] = field(default_factory=list)  # (mark, label, why, picked)
    notes: list[str] = field(default_factory=list)

    def text(self) -> str:
        """Plain-text form: one option per line, its explanation indented under it."""
        lines = [self.verdict]
        for mark, label, why, picked in self.items:
            lines.append(f"  {mark} {label}{'   ← your answer' if picked else ''}")
            lines.append(f"      {why}")
        return "\n".join(lines + [n for n in self.notes if n])

    def html(self, note: str = "") -> str:
        """HTML form for the widget."""
        color = "#1a7f37" if self.ok else "#c62828"
        items = "".join(
            f"<li><b>{_inline(mark)} {_inline(label)}</b>{' <i>(your answer)</i>' if picked else ''}<br>"
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
    common = dict(id=qid, module=module, type=qtype, prompt=raw["prompt"], tags=tuple(tags), bank=bank,
                  prompt_zh=_str(raw, "prompt_zh", where, required=False), why=raw.get("why", "") or "",
                  compute=compute)
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
            traps.append(Trap(_number(t, "value", f"{where} trap {j}"), t["why"]))
        q = Question(**common, answer=answer, rel_tol=_number(raw, "rel_tol", where, 0.01),
                     abs_tol=_number(raw, "abs_tol", where, 0.0), factor=_number(raw, "factor", where, 1.25),
                     unit=_str(raw, "unit", where, required=False), traps=tuple(traps))
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
            options.append(Option(line["code"], bool(line.get("bug", False)), line["why"]))
        if sum(o.correct for o in options) != 1:
            raise QuizError(f"{where}: exactly one line must have \"bug\": true")
        fix = next((line.get("fix", "") for line in lines if line.get("bug")), "")
        return Question(**common, options=tuple(options), fix=fix if isinstance(fix, str) else "")
    options = []
    for j, o in enumerate(raw.get("options", [])):
        if not isinstance(o, dict) or not isinstance(o.get("text"), str) or not isinstance(o.get("why"), str) \
                or not o["why"]:
            raise QuizError(f"{where}: option {j} needs 'text' and a 'why' explanation")
        options.append(Option(o["text"], bool(o.get("correct", False)), o["why"]))
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


def record(question: Question, response: Any, ok: bool) -> Path:
    """Add one attempt to the progress file (written atomically) and return its path."""
    path = progress_path()
    data = load_progress()
    if data.pop("unreadable", False) and path.exists():
        path.replace(path.with_name(path.name + ".broken"))  # keep the damaged file, start a new one
    data["learner"] = learner()
    entry = data["answers"].setdefault(question.key, {"module": question.module, "attempts": 0, "right": 0})
    entry["attempts"] += 1
    entry["right"] += int(bool(ok))
    entry.setdefault("first_ok", bool(ok))
    entry.update(last_ok=bool(ok), last=_jsonable(response), topics=list(question.topics),
                 when=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"))
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".progress-", suffix=".json", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1, sort_keys=True, ensure_ascii=False)
    os.replace(tmp, path)
    return path


def mistake_keys() -> list[str]:
    """Progress keys of the questions whose latest attempt was wrong."""
    return sorted(k for k, e in load_progress()["answers"].items() if not e.get("last_ok", True))


def mistakes() -> list[Question]:
    """The questions whose latest attempt was wrong, in bank order."""
    wrong = set(mistake_keys())
    return [q for q in all_questions() if q.key in wrong]


def progress_table() -> list[dict]:
    """One row per module and per topic: questions, answered, right at the last try, right first time, to review."""
    answers = load_progress()["answers"]
    questions = all_questions()
    rows = []
    groups = [("module", m, MODULES.get(m, ""), [q for q in questions if q.module == m])
              for m in sorted({q.module for q in questions})]
    groups += [("topic", t, TOPICS[t][0], [q for q in questions if t in q.topics]) for t in TOPICS]
    for kind, name, title, qs in groups:
        if not qs:
            continue
        seen = [answers[q.key] for q in qs if q.key in answers]
        rows.append({"kind": kind, "name": name, "title": title, "questions": len(qs), "answered": len(seen),
                     "right": sum(bool(e.get("last_ok")) for e in seen),
                     "first_try": sum(bool(e.get("first_ok")) for e in seen),
                     "review": sum(not e.get("last_ok", True) for e in seen)})
    return rows


def progress_text() -> str:
    """The progress table as text."""
    lines = [f"progress of {learner()} ({progress_path()})",
             f"{'':8}{'name':<24}{'questions':>10}{'answered':>10}{'right':>7}{'1st try':>9}{'review':>8}"]
    for r in progress_table():
        lines.append(f"{r['kind']:<8}{r['name']:<24}{r['questions']:>10}{r['answered']:>10}{r['right']:>7}"
                     f"{r['first_try']:>9}{r['review']:>8}")
    return "\n".join(lines)


def progress() -> None:
    """Show progress across modules and topics (a table; widgets not needed)."""
    rows = progress_table()
    if _frontend() != "widgets":
        print(progress_text())
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
        f"<tr><td>{r['kind']}</td><td><code>{html.escape(r['name'])}</code></td><td>{html.escape(r['title'])}</td>"
        f"<td>{r['questions']}</td><td>{r['answered']}</td><td>{r['right']}</td><td>{r['first_try']}</td>"
        f"<td>{r['review']}</td><td>{bar(r)}</td></tr>" for r in rows)
    head = "".join(f"<th>{h}</th>" for h in ("", "name", "about", "questions", "answered", "right", "1st try",
                                              "to review", ""))
    display(HTML(f'<div class="llmcourse-progress"><p>Progress of <b>{html.escape(learner())}</b> '
                 f"(saved in <code>{html.escape(str(progress_path()))}</code>)</p>"
                 f"<table><tr>{head}</tr>{body}</table></div>"))


# ----------------------------------------------------------------------------------------------------------
# Text mode
# ----------------------------------------------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def question_text(question: Question, number: int | None = None, seed: int | None = None, lang: str = "en") -> str:
    """One question as plain text, options lettered in the learner's shuffled order."""
    head = f"{number}. " if number is not None else ""
    lines = [f"{head}{question.text(lang)}  [{question.id}]"]
    if question.type == "bug":
        lines += [f"   {i + 1:>2} | {o.text}" for i, o in enumerate(question.options)]
        lines.append("   (answer with the number of the wrong line)")
    elif question.type in ("single", "multiple"):
        for k, i in enumerate(shuffled_options(question, seed)):
            lines.append(f"   ({_LETTERS[k]}) {question.options[i].text}")
        if question.type == "multiple":
            lines.append("   (select all that apply: answer with letters such as 'ac')")
    else:
        unit = f" in {question.unit}" if question.unit else ""
        kind = "an estimate" if question.type == "estimate" else "a number"
        lines.append(f"   (answer with {kind}{unit})")
    return "\n".join(lines)


def quiz_text(questions: Sequence[Question], seed: int | None = None, lang: str = "en", title: str = "") -> str:
    """A whole quiz as plain text, with how to answer it."""
    parts = [title] if title else []
    parts += [question_text(q, n, seed, lang) for n, q in enumerate(questions, 1)]
    first = questions[0].id if questions else "question-id"
    parts.append(f"Answer with quiz.answer(\"{first}\", \"b\") (a letter, letters, a line number or a number).")
    return "\n\n".join(parts)


def _response_from_text(question: Question, response: Any, seed: int | None) -> Any:
    """Convert a text-mode answer (letters, a line number, a number) into what Question.grade takes."""
    if question.type in ("numeric", "estimate"):
        return response
    if question.type == "bug":
        try:
            line = int(str(response).strip().removeprefix("line").strip())
        except ValueError:
            raise QuizError(f"answer {question.id!r} with a line number 1..{len(question.options)}") from None
        if not 1 <= line <= len(question.options):
            raise QuizError(f"line {line} does not exist: choose 1..{len(question.options)}")
        return line - 1
    order = shuffled_options(question, seed)
    letters = [c for c in str(response).lower() if c.isalpha()] if isinstance(response, str) else None
    if letters is None or not letters:
        raise QuizError(f"answer {question.id!r} with a letter such as 'b'" +
                        (" or letters such as 'ac'" if question.type == "multiple" else ""))
    picked = []
    for c in letters:
        k = _LETTERS.index(c)
        if k >= len(order):
            raise QuizError(f"option ({c}) does not exist for {question.id!r}")
        picked.append(order[k])
    if question.type == "single":
        if len(picked) != 1:
            raise QuizError(f"{question.id!r} has one right answer: give one letter")
        return picked[0]
    return set(picked)


def answer(*args: Any, seed: int | None = None, save: bool = True) -> bool:
    """Text-mode answer: answer(question_id, response) or answer(module, number, response); prints feedback.

    Responses: a letter ('b') or letters ('ac') in the order the text quiz showed, a line number for a
    spot-the-bug question, or a number (with a unit if you like: '2 GiB'). Returns True when right.
    """
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
    ok, text = question.grade(_response_from_text(question, response, seed))
    if save:
        text += _save_note(question, response, ok)
    print(text)
    return ok


def _save_note(question: Question, response: Any, ok: bool) -> str:
    try:
        record(question, response, ok)
    except OSError as exc:
        return f"\n(progress not saved: {exc})"
    return ""


def _terminal_quiz(questions: Sequence[Question], seed: int | None, lang: str) -> None:
    """Ask the questions one by one with input(); an empty answer skips, 'q' stops."""
    right = 0
    for n, q in enumerate(questions, 1):
        print(question_text(q, n, seed, lang))
        while True:
            reply = input("your answer (empty to skip, q to quit): ").strip()
            if reply in ("", "q"):
                break
            try:
                response = _response_from_text(q, reply, seed)
            except QuizError as exc:
                print(exc)
                continue
            ok, text = q.grade(response)
            print(text + _save_note(q, reply, ok))
            right += ok
            break
        if reply == "q":
            break
        print()
    print(f"{right}/{len(questions)} right. quiz.progress() shows everything you have answered.")


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

    def set_lang(code: str) -> None:
        text = question.text(code)
        note = " <i>(no translation yet)</i>" if code == "zh" and not question.prompt_zh else ""
        tags = ", ".join(question.topics or question.tags)
        prompt.value = (f"<b>{number}. {_inline(text)}</b>{note}<br><span style='color:#777;font-size:85%'>"
                        f"{html.escape(question.module)} · {html.escape(tags)} · {question.type} · "
                        f"<code>{html.escape(question.id)}</code></span>")

    set_lang(lang)
    parts = [prompt]
    if question.type in ("numeric", "estimate"):
        hint = f"a number in {question.unit}" if question.unit else "a number"
        box = w.Text(placeholder=f"{hint}, e.g. 4096 or 2*32*64", layout=w.Layout(width="24em"))
        box.add_class("llmcourse-number")
        get = lambda: box.value  # noqa: E731
        parts.append(box)
    elif question.type == "multiple":
        order = shuffled_options(question, seed)
        checks = []
        for i in order:
            cb = w.Checkbox(value=False, indent=False, layout=w.Layout(width="28px"))
            label = w.HTML(f'<span class="llmcourse-choice">{_inline(question.options[i].text)}</span>')
            checks.append((cb, i))
            parts.append(w.HBox([cb, label], layout=w.Layout(align_items="flex-start")))
        get = lambda: {i for cb, i in checks if cb.value}  # noqa: E731
    else:
        if question.type == "bug":
            labels = [(f"{i + 1:>2} | {o.text}", i) for i, o in enumerate(question.options)]
        else:
            labels = [(question.options[i].text, i) for i in shuffled_options(question, seed)]
        box = w.RadioButtons(options=labels, value=None, layout=w.Layout(width="auto"))
        if question.type == "bug":
            box.add_class("llmcourse-bug")
        get = lambda: box.value  # noqa: E731
        parts.append(box)
    button = w.Button(description="Check", button_style="primary", icon="check")
    button.add_class("llmcourse-check")
    feedback = w.HTML()
    feedback.add_class("llmcourse-feedback")

    def on_click(_):
        response = get()
        if response is None or response == set() or response == "":
            feedback.value = "<i>Choose an answer first.</i>" if question.type not in ("numeric", "estimate") \
                else "<i>Type a number first.</i>"
            return
        result = question.explain(response)
        note = ""
        try:
            record(question, response, result.ok)
        except OSError as exc:
            note = f"progress not saved: {exc}"
        score[question.key] = result.ok
        feedback.value = result.html(note)
        if on_answer is not None:
            on_answer()

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


def quiz_widget(questions: Sequence[Question], seed: int | None = None, lang: str = "en", title: str = ""):
    """The widget for a list of questions: a language switch when translations exist, a running score."""
    import ipywidgets as w

    score: dict[str, bool] = {}
    tally = w.HTML()
    tally.add_class("llmcourse-score")

    def update() -> None:
        tally.value = (f"<b>{sum(score.values())}/{len(questions)}</b> right this session "
                       f"({len(score)} answered). <code>quiz.progress()</code> shows all modules; "
                       f"<code>quiz.review()</code> repeats your mistakes.")

    update()
    items, setters = [], []
    for n, q in enumerate(questions, 1):
        box, set_lang = _question_widget(q, n, seed, lang, score, on_answer=update)
        items.append(box)
        setters.append(set_lang)
    head = [w.HTML(_CSS + (f"<h4>{html.escape(title)}</h4>" if title else ""))]
    if any(q.prompt_zh for q in questions):
        switch = w.ToggleButtons(options=[("English", "en"), ("中文", "zh")], value=lang if lang == "zh" else "en")
        switch.add_class("llmcourse-lang")
        switch.observe(lambda change: [s(change["new"]) for s in setters], names="value")
        head.append(switch)
    root = _quiz_class()(head + items + [tally])
    root.add_class("llmcourse-quiz")
    root.plain_text = quiz_text(questions, seed, lang, title)
    return root


def _present(questions: Sequence[Question], seed: int | None, lang: str, title: str, mode: str | None):
    mode = mode or _frontend()
    if not questions:
        print("No questions to show" + (" (no mistakes to review: well done)." if "mistake" in title else "."))
        return None
    if mode == "widgets":
        from IPython.display import display

        widget = quiz_widget(questions, seed, lang, title)
        display(widget)
        return None
    if mode == "terminal":
        _terminal_quiz(questions, seed, lang)
        return None
    print(quiz_text(questions, seed, lang, title))
    return None


def show(module: str, seed: int | None = None, lang: str = "en", mode: str | None = None) -> None:
    """The quiz of one module: widgets in Jupyter, questions and quiz.answer(...) instructions elsewhere."""
    questions = load_bank(module)
    _present(questions, seed, lang, f"Quiz: {module}", mode)


def drill(topic: str | Iterable[str] | None = None, n: int | None = 10, module: str | Iterable[str] | None = None,
          seed: int | None = None, lang: str = "en", mistakes: bool = False, mode: str | None = None) -> None:
    """An interview drill: n questions (None = all) from every bank, for a topic, several, or all (None)."""
    questions = select(topic, module, n=n, seed=seed, mistakes=mistakes)
    what = ", ".join([topic] if isinstance(topic, str) else list(topic or [])) or "all topics"
    title = f"{'Review of your mistakes' if mistakes else 'Drill'}: {what} ({len(questions)} questions)"
    _present(questions, None, lang, title, mode)


def review(topic: str | Iterable[str] | None = None, n: int | None = None, lang: str = "en",
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


def answer_box(name: str, choices: Sequence[str] | None = None, multiple: bool = False, unit: str = "") -> None:
    """Help fill a graded answer variable: pick (or type) an answer, get the line to put in the answer cell.

    The widget also sets the variable in the notebook right away, but nbgrader runs the notebook from the
    top without widgets, so only the line written in the answer cell counts. Choices are labelled a, b, c...
    in the order given (graded questions are not shuffled).
    """
    letters = _LETTERS[: len(choices or ())]
    if _frontend() != "widgets":
        if choices:
            for c, text in zip(letters, choices, strict=True):
                print(f"   ({c}) {text}")
            example = "'ac'" if multiple else "'b'"
            print(f"Write  {name} = {example}  (your letter{'s' if multiple else ''}) in the answer cell.")
        else:
            print(f"Write  {name} = <a number{' in ' + unit if unit else ''}>  in the answer cell.")
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
        line.value = (f"Now <code>{html.escape(name)}</code> is set. Put this line in the answer cell so that the "
                      f"grader sees it: <code>{html.escape(text)}</code>")

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
        text = w.Text(placeholder=f"a number{' in ' + unit if unit else ''}")

        def typed(change):
            try:
                value = parse_quantity(change["new"], unit)
                publish(int(value) if value.is_integer() and abs(value) < 2**53 else value)
            except ValueError:
                line.value = "<i>not a number yet</i>" if change["new"].strip() else ""

        text.observe(typed, names="value")
        display(w.VBox([text, line]))
