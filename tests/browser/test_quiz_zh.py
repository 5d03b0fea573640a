"""The quiz in Chinese, in real JupyterLab driven by headless Chromium.

A notebook shows one wholly translated course question of each type (single, multiple, numeric, estimate, bug)
in English; the test clicks 中文, answers each question by clicking and typing, and checks that the feedback
is Chinese, that no English text of the course's own is on the quiz (code, identifiers and units aside), and
that the choice of language is saved in the progress file. The Jupyter server (a temporary HOME and settings,
127.0.0.1 only) is the fixture of tests/browser/test_jupyterlab.py.
"""

from __future__ import annotations

import json
import re
import time

import nbformat
import pytest

from llmcourse import quiz
from tests.browser.test_jupyterlab import (  # noqa: F401 - server is a fixture
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    UI_TIMEOUT_MS,
    _wait_for_kernel,
    _wait_for_progress,
    check_redrawn,
    server,
)
from tests.unit.test_quiz_zh import english_prose

pytestmark = pytest.mark.browser
SEED = 0
# What the Chinese feedback of a right answer starts with, per type.
RIGHT = {"single": "回答正确。", "multiple": "回答正确。", "numeric": "回答正确。", "estimate": "估得好",
         "bug": "回答正确：错误就在这一行。"}


def one_of_each_type() -> dict[str, quiz.Question]:
    """The first wholly translated question of each type, module quizzes first."""
    found: dict[str, quiz.Question] = {}
    for q in quiz.all_questions():
        if q.translated and q.type not in found:
            found[q.type] = q
    return found


def write_notebook(folder, questions: list[quiz.Question]) -> str:
    nb = nbformat.v4.new_notebook()
    ids = [q.id for q in questions]
    nb.cells.append(nbformat.v4.new_code_cell(
        "from IPython.display import display\nfrom llmcourse import quiz\n\n"
        f"questions = [quiz.find(i) for i in {ids!r}]\n"
        f"display(quiz.quiz_widget(questions, seed={SEED}, remember=True,\n"
        "                          title=lambda code: quiz.msg('quiz_title', code, module='zh-test')))"))
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    name = "quiz_zh.ipynb"
    nbformat.write(nb, folder / name)
    return name


def answer(el, q: quiz.Question) -> None:
    """Give the right answer to a rendered question by clicking or typing, as a learner would (in Chinese)."""
    if q.type == "single":
        right = next(o for o in q.options if o.correct)
        check_redrawn(el.get_by_role("radio", name=right.label("zh"), exact=True))
    elif q.type == "multiple":
        boxes = el.locator("input[type='checkbox']")
        for k, i in enumerate(quiz.shuffled_options(q, SEED)):
            if q.options[i].correct:
                check_redrawn(boxes.nth(k))
    elif q.type == "bug":
        check_redrawn(el.get_by_role("radio").nth(next(i for i, o in enumerate(q.options) if o.correct)))
    else:
        el.locator(".llmcourse-number input").fill(f"{q.answer:g} {q.unit_zh}".strip())


def test_quiz_in_chinese(server):  # noqa: F811 - the fixture imported above
    ARTIFACTS.mkdir(exist_ok=True)
    chosen = one_of_each_type()
    missing = sorted(set(quiz.TYPES) - set(chosen))
    assert not missing, f"no wholly translated {missing} question to answer"
    questions = list(chosen.values())
    saved = server["progress"].read_text(encoding="utf-8") if server["progress"].exists() else None
    name = write_notebook(server["root"] / "work", questions)
    with server["pw"]() as pw:
        context = pw.chromium.launch_persistent_context(
            str(server["root"] / "chromium-profile-zh"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000}, timeout=UI_TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{server['base']}/lab/tree/{name}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            _wait_for_kernel(server["base"])
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
            root = page.locator(".llmcourse-quiz").first
            root.locator(".llmcourse-check").first.get_by_text("Check").wait_for()
            root.locator(".llmcourse-lang").get_by_text("中文", exact=True).click()
            root.locator(".llmcourse-check").first.get_by_text("核对答案").wait_for()
            root.get_by_text("测验：zh-test").wait_for()

            numeric = chosen.get("numeric")
            if numeric is not None:  # a wrong number first: the verdict, the answer and the reason in Chinese
                el = root.locator(f".llmcourse-q-{numeric.id}")
                el.locator(".llmcourse-number input").fill("1")
                el.get_by_role("button", name="核对答案").click()
                el.locator(".llmcourse-feedback").get_by_text("回答错误：你的答案是 1").wait_for()
                assert numeric.why_zh[:20] in el.locator(".llmcourse-feedback").inner_text()
            for q in questions:
                el = root.locator(f".llmcourse-q-{q.id}")
                el.scroll_into_view_if_needed()
                attempts = json.loads(server["progress"].read_text(encoding="utf-8"))["answers"].get(
                    q.key, {}).get("attempts", 0) if server["progress"].exists() else 0
                answer(el, q)
                el.get_by_role("button", name="核对答案").click()
                feedback = el.locator(".llmcourse-feedback")
                feedback.get_by_text(RIGHT[q.type]).first.wait_for()
                text = feedback.inner_text()
                reasons = [o.why_zh for o in q.options] or [q.why_zh]
                assert all(r[:15] in text for r in reasons), f"{q.id}: every explanation shows in Chinese"
                assert _wait_for_progress(server["progress"], q.key, attempts + 1)["last_ok"] is True
            # what the learner reads, less code: <code> spans and the numbered lines of the spot-the-bug snippet
            shown = root.evaluate("el => { const c = el.cloneNode(true); c.querySelectorAll("
                                  "'code, .llmcourse-bug label').forEach(n => n.replaceWith(' '));"
                                  " return c.textContent; }")
            assert not english_prose(shown), f"English on the Chinese quiz: {english_prose(shown)[:5]}"
            assert re.search(rf"本次答对 {len(questions)}/{len(questions)}", shown), shown[-300:]
            deadline = time.monotonic() + 30
            while json.loads(server["progress"].read_text(encoding="utf-8")).get("lang") != "zh":
                assert time.monotonic() < deadline, "the language choice was not saved in the progress file"
                time.sleep(0.2)
            root.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser-quiz-zh.png"))
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-failure-zh.png"))
            print(f"server log: {server['log']}\n{server['log'].read_text()[-2000:]}")
            raise
        finally:
            context.close()
            # The choice of language is remembered: put the shared progress file back for the other browser tests.
            if saved is None:
                server["progress"].unlink(missing_ok=True)
            else:
                server["progress"].write_text(saved, encoding="utf-8")
