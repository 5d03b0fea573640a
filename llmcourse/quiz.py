"""Self-check quizzes: question banks are JSON files in llmcourse/quizbank/, one per module.

    from llmcourse import quiz
    quiz.show("01_attention")          # widgets in JupyterLab, plain text elsewhere

This is the minimal hook; graded answers never go through it. A graded interview question is a
plain variable in a solution cell, checked by a hidden test (widgets are invisible to nbgrader).

Bank format (validated by `load_bank`):

    {"module": "01_attention",
     "questions": [
       {"id": "attn-scale", "type": "single", "prompt": "...", "tags": ["attention"],
        "options": [{"text": "...", "correct": true, "why": "..."}, {"text": "...", "why": "..."}]},
       {"id": "kv-bytes", "type": "numeric", "prompt": "...", "answer": 4096, "rel_tol": 0.01,
        "unit": "bytes", "why": "..."}]}
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

BANK_DIR = Path(__file__).with_name("quizbank")
TYPES = ("single", "multiple", "numeric")


class QuizError(ValueError):
    """A question bank is malformed; the message names the file and question."""


@dataclass(frozen=True)
class Option:
    """One answer option with its explanation."""

    text: str
    correct: bool
    why: str


@dataclass(frozen=True)
class Question:
    """One quiz question."""

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

    def grade(self, response: Any) -> tuple[bool, str]:
        """Score a response (option index, set of indices, or number): (correct, feedback)."""
        if self.type == "numeric":
            try:
                value = float(response)
            except (TypeError, ValueError):
                return False, f"'{response}' is not a number. {self.why}".strip()
            ok = math.isclose(value, float(self.answer), rel_tol=self.rel_tol, abs_tol=0.0)
            verdict = "Correct." if ok else f"Not quite: the answer is {self.answer:g} {self.unit}".rstrip() + "."
            return ok, f"{verdict} {self.why}".strip()
        chosen = {response} if isinstance(response, int) else set(response or ())
        right = {i for i, o in enumerate(self.options) if o.correct}
        ok = chosen == right
        lines = ["Correct." if ok else "Not quite."]
        for i in sorted(chosen | right):
            o = self.options[i]
            mark = "✔" if o.correct else "✘"
            lines.append(f"{mark} {o.text}: {o.why}")
        return ok, "\n".join(lines)


def _parse(module: str, raw: dict, where: str) -> Question:
    for key in ("id", "type", "prompt"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise QuizError(f"{where}: question needs a non-empty string {key!r}")
    qtype = raw["type"]
    if qtype not in TYPES:
        raise QuizError(f"{where} ({raw['id']}): type must be one of {TYPES}")
    tags = tuple(raw.get("tags", ()))
    if qtype == "numeric":
        if not isinstance(raw.get("answer"), (int, float)) or not raw.get("why"):
            raise QuizError(f"{where} ({raw['id']}): a numeric question needs 'answer' and 'why'")
        return Question(raw["id"], module, qtype, raw["prompt"], why=raw["why"], answer=float(raw["answer"]),
                        rel_tol=float(raw.get("rel_tol", 0.01)), unit=raw.get("unit", ""), tags=tags)
    options = []
    for j, o in enumerate(raw.get("options", [])):
        if not isinstance(o.get("text"), str) or not isinstance(o.get("why"), str) or not o["why"]:
            raise QuizError(f"{where} ({raw['id']}): option {j} needs 'text' and a 'why' explanation")
        options.append(Option(o["text"], bool(o.get("correct", False)), o["why"]))
    n_right = sum(o.correct for o in options)
    if len(options) < 2 or n_right == 0 or (qtype == "single" and n_right != 1):
        raise QuizError(f"{where} ({raw['id']}): needs 2+ options and exactly the right number correct")
    return Question(raw["id"], module, qtype, raw["prompt"], why=raw.get("why", ""), options=tuple(options),
                    tags=tags)


@lru_cache(maxsize=32)
def load_bank(module: str) -> tuple[Question, ...]:
    """All questions of one module's bank, validated."""
    path = BANK_DIR / f"{module}.json"
    if not path.exists():
        raise QuizError(f"no quiz bank for {module!r} ({path.name} missing)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise QuizError(f"{path.name}: not valid JSON ({exc})") from None
    if data.get("module") != module:
        raise QuizError(f"{path.name}: 'module' must be {module!r}")
    questions = tuple(_parse(module, q, f"{path.name}[{i}]") for i, q in enumerate(data.get("questions", [])))
    ids = [q.id for q in questions]
    if len(ids) != len(set(ids)):
        raise QuizError(f"{path.name}: duplicate question ids")
    return questions


def shuffled_options(question: Question, seed: int = 0) -> list[int]:
    """Display order of a question's options, fixed for a given seed and question."""
    order = list(range(len(question.options)))
    random.Random(f"{seed}:{question.id}").shuffle(order)
    return order


def _widget(question: Question, seed: int):  # pragma: no cover - exercised in JupyterLab
    import ipywidgets as w

    out = w.Output()
    if question.type == "numeric":
        box = w.Text(placeholder=f"number {question.unit}".strip())
        get = lambda: box.value  # noqa: E731
    else:
        order = shuffled_options(question, seed)
        labels = [(question.options[i].text, i) for i in order]
        if question.type == "single":
            box = w.RadioButtons(options=labels, value=None, layout=w.Layout(width="auto"))
            get = lambda: box.value  # noqa: E731
        else:
            box = w.SelectMultiple(options=labels, layout=w.Layout(width="auto"))
            get = lambda: set(box.value)  # noqa: E731
    button = w.Button(description="Check", button_style="primary")

    def on_click(_):
        ok, text = question.grade(get())
        out.clear_output()
        with out:
            print(text)

    button.on_click(on_click)
    return w.VBox([w.HTML(f"<b>{question.prompt}</b>"), box, button, out])


def show(module: str, seed: int = 0) -> None:
    """Display a module's quiz: widgets when ipywidgets can render, else the questions as text."""
    questions = load_bank(module)
    try:
        import ipywidgets as w
        from IPython import get_ipython
        from IPython.display import display

        if get_ipython() is None:
            raise ImportError
        display(w.VBox([_widget(q, seed) for q in questions]))
    except ImportError:
        for n, q in enumerate(questions, 1):
            print(f"{n}. {q.prompt}")
            if q.type != "numeric":
                for k, i in enumerate(shuffled_options(q, seed)):
                    print(f"   ({chr(97 + k)}) {q.options[i].text}")
        print("Check an answer with quiz.load_bank(module)[n - 1].grade(option_index or number).")
