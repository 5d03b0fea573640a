"""What a learner sees, in real JupyterLab 4 and Notebook 7 driven by headless Chromium.

A Jupyter server starts on a free port of 127.0.0.1 with every settings folder (and HOME) in a temporary folder,
with the learner's settings of `make lab` and Binder (jupyter-config/learner). Debian's Chromium, driven by
Playwright, opens course/14_question_bank, runs all cells, answers a drill question by clicking, and checks that
the feedback appears and that the progress file records the answer. It runs the stub of course/01_attention and
measures the failing check's output (one line, no traceback). It checks that learners see nbgrader's Validate
and assignment list but none of its instructor tools or JupyterLab's news prompt, and that a second server as
`make lab-instructor` starts it shows the instructor tools. Screenshots go to test-artifacts/ (git-ignored).

Skips, saying why, only where Chromium or Playwright is missing (`make system-deps` installs Chromium).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from autograde.settings import RELEASE_DIR, REPO
from llmcourse import quiz

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("LLMCOURSE_CHROMIUM", "/usr/bin/chromium"))
NOTEBOOK = REPO / RELEASE_DIR / "14_question_bank" / "14_question_bank.ipynb"
STUB = REPO / RELEASE_DIR / "01_attention" / "01_attention.ipynb"  # its first check fails on the stub
NOTEBOOKS = (NOTEBOOK, STUB)
LEARNER_CONFIG = REPO / "jupyter-config" / "learner"
ARTIFACTS = REPO / "test-artifacts"
# Debian's Chromium in a closed network: no GPU, no sandbox (containers), and none of the background traffic
# (component updates, sync, field trials) that otherwise floods the network with retries.
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
SERVER_START_S = 90
UI_TIMEOUT_MS = 60_000
UIS = {"lab": "lab/tree/{name}", "notebook": "notebooks/{name}"}


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(f"no browser at {CHROMIUM}: install Debian's chromium (make system-deps, as root) to run "
                    "the browser test")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[dev]' (its driver ships in the wheel; "
                    "no browser download is needed)")
    return sync_playwright


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(proc: subprocess.Popen) -> None:
    """End the server and the kernels it started (its own process group), politely first."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _serve(root: Path, mode: str):
    """Start a Jupyter server in `mode` ("learner" as `make lab` and Binder, or "instructor"); yield its settings.

    Learner mode puts jupyter-config/learner on JUPYTER_CONFIG_PATH, exactly as `make lab` does; instructor
    mode runs JupyterLab with nbgrader's defaults, as `make lab-instructor` does.
    """
    sync_playwright = _playwright()
    for notebook in NOTEBOOKS:
        assert notebook.exists(), f"{notebook} is missing: run make build"
    work, config = root / "work", root / "config"
    for folder in (work, config, root / "home"):
        folder.mkdir(parents=True)
    for notebook in NOTEBOOKS:
        shutil.copy(notebook, work / notebook.name)
    # Test-only settings in the user's config folder: no token, and no news or update check may reach out of
    # the machine in either mode. The course's own settings come from JUPYTER_CONFIG_PATH below.
    (config / "jupyter_server_config.json").write_text(json.dumps({
        "IdentityProvider": {"token": ""},
        "ServerApp": {"password": "", "open_browser": False, "allow_root": True,
                      "jpserver_extensions": {"jupyter_lsp": False}},
        "LabApp": {"news_url": None, "check_for_updates_class": "jupyterlab.NeverCheckForUpdate"}}))
    # Start the notebook's own kernel without asking (JupyterLab otherwise may show a kernel dialog).
    tracker = root / "lab-settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    tracker.parent.mkdir(parents=True)
    tracker.write_text(json.dumps({"autoStartDefaultKernel": True}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "LLMCOURSE_"))}
    progress = root / "progress.json"
    env.update(HOME=str(root / "home"), JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(root / "data"),
               JUPYTER_RUNTIME_DIR=str(root / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(root / "lab-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(root / "lab-workspaces"), IPYTHONDIR=str(root / "ipython"),
               MPLCONFIGDIR=str(root / "mpl"), MPLBACKEND="agg", PYDEVD_DISABLE_FILE_VALIDATION="1",
               LLMCOURSE_PROGRESS=str(progress), LLMCOURSE_LEARNER="browser-test")
    if mode == "learner":
        env["JUPYTER_CONFIG_PATH"] = str(LEARNER_CONFIG)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    port = _free_port()
    log_path = root / "server.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--ServerApp.port_retries=0", f"--ServerApp.root_dir={work}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                cwd=work, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the Jupyter server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{base}/api/status", timeout=5) as reply:
                    if reply.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the Jupyter server did not answer within {SERVER_START_S} s:\n"
                            f"{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield {"base": base, "root": root, "progress": progress, "log": log_path, "pw": sync_playwright,
               "mode": mode}
    finally:
        _stop(proc)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A server with the learner's settings (`make lab`, Binder) serving copies of the course notebooks."""
    yield from _serve(tmp_path_factory.mktemp("jupyter-learner"), "learner")


@pytest.fixture(scope="module")
def instructor_server(tmp_path_factory):
    """A server as `make lab-instructor` starts it: every nbgrader tool enabled."""
    yield from _serve(tmp_path_factory.mktemp("jupyter-instructor"), "instructor")


def _entry(path: Path, key: str) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))["answers"].get(key)
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def _attempts(path: Path, key: str) -> int:
    """How many attempts the progress file holds for a question so far."""
    return (_entry(path, key) or {}).get("attempts", 0)


def _wait_for_progress(path: Path, key: str, attempts: int, timeout_s: float = 30) -> dict:
    """The progress entry for key, once the kernel has recorded the expected number of attempts."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        entry = _entry(path, key)
        if entry is not None and entry.get("attempts") == attempts:
            return entry
        time.sleep(0.2)
    raise AssertionError(f"{path} never recorded attempt {attempts} of {key}: {_entry(path, key)}")


def _wait_for_kernel(base: str, name: str | None = None, timeout_s: float = 60) -> None:
    """Wait until the server has an idle kernel with a browser connected to it (the kernel of notebook `name`)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{base}/api/sessions", timeout=5) as reply:
                kernels = [s["kernel"] for s in json.loads(reply.read())
                           if s.get("kernel") and (name is None or s.get("path", "").endswith(name))]
        except urllib.error.URLError:  # the server answers 500 while a kernel is half started
            kernels = []
        if any(k.get("execution_state") == "idle" and k.get("connections", 0) > 0 for k in kernels):
            return
        time.sleep(0.25)
    raise AssertionError(f"no idle kernel with a connected browser{f' for {name}' if name else ''} after {timeout_s} s")


def _question_on_page(question_el) -> quiz.Question:
    """The bank question a rendered question box shows (its id is one of the box's CSS classes)."""
    classes = question_el.get_attribute("class").split()
    qid = next(c.removeprefix("llmcourse-q-") for c in classes if c.startswith("llmcourse-q-"))
    return quiz.find(qid)


def check_redrawn(box) -> None:
    """Check a radio button or checkbox of a quiz widget, clicking again if the widget was redrawn meanwhile.

    Under load a widget can be redrawn between playwright's click and its check of the state (seen in CI:
    "Clicking the checkbox did not change its state"); a few more clicks on the redrawn button settle it.
    """
    for attempt in range(5):
        try:
            box.check()
            return
        except Exception:
            if attempt == 4:
                raise
            box.page.wait_for_timeout(500)


def _choose(question_el, question: quiz.Question, want_right: bool) -> quiz.Option:
    """Click the radio button of a right (or a wrong) option; return the option clicked."""
    option = next(o for o in question.options if o.correct == want_right)
    check_redrawn(question_el.get_by_role("radio", name=option.text, exact=True))
    return option


def _shown(prompt: str) -> str:
    """The first characters of a prompt as the page shows them: markdown's backticks and stars are not text."""
    return re.sub(r"[`*]", "", prompt)[:12]


@pytest.mark.parametrize("ui", list(UIS))
def test_quiz_in_the_browser(server, ui):
    """Run the notebook, answer one drill question right and one wrong, by clicking; check feedback and progress."""
    ARTIFACTS.mkdir(exist_ok=True)
    started = time.monotonic()
    with server["pw"]() as pw:
        context = pw.chromium.launch_persistent_context(
            str(server["root"] / f"chromium-profile-{ui}"), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000}, timeout=UI_TIMEOUT_MS)
        page = context.pages[0] if context.pages else context.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{server['base']}/{UIS[ui].format(name=NOTEBOOK.name)}")
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            _wait_for_kernel(server["base"])
            page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']").first.wait_for()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
            page.locator(".llmcourse-quiz").first.wait_for()
            singles = page.locator(".llmcourse-quiz .llmcourse-type-single")
            singles.nth(1).wait_for()

            first = singles.nth(0)
            first.scroll_into_view_if_needed()
            question = _question_on_page(first)
            attempts = _attempts(server["progress"], question.key)
            _choose(first, question, want_right=True)
            first.get_by_role("button", name="Check").click()
            feedback = first.locator(".llmcourse-feedback")
            feedback.get_by_text("Correct.").wait_for()
            wrong = next(o for o in question.options if not o.correct)
            assert wrong.why[:40] in feedback.inner_text(), "every option is explained, wrong ones included"
            entry = _wait_for_progress(server["progress"], question.key, attempts + 1)
            assert entry["last_ok"] is True

            second = singles.nth(1)
            other = _question_on_page(second)
            attempts = _attempts(server["progress"], other.key)
            picked = _choose(second, other, want_right=False)
            second.get_by_role("button", name="Check").click()
            second.locator(".llmcourse-feedback").get_by_text("Not quite.").wait_for()
            assert picked.why[:40] in second.locator(".llmcourse-feedback").inner_text()
            assert _wait_for_progress(server["progress"], other.key, attempts + 1)["last_ok"] is False
            scores = " ".join(page.locator(".llmcourse-score").all_inner_texts())
            assert sum(int(n) for n in re.findall(r"\((\d+) answered\)", scores)) == 2, scores

            first.scroll_into_view_if_needed()
            shot = ARTIFACTS / f"browser-quiz-{ui}.png"
            page.screenshot(path=str(shot))
            first.screenshot(path=str(ARTIFACTS / f"browser-quiz-{ui}-question.png"))
            assert shot.stat().st_size > 10_000
            bugs = page.locator(".llmcourse-quiz .llmcourse-type-bug")
            if bugs.count():  # a spot-the-bug question as learners see it, for the record
                bugs.first.scroll_into_view_if_needed()
                bugs.first.screenshot(path=str(ARTIFACTS / f"browser-quiz-{ui}-bug.png"))

            # the same question can be drawn by more than one drill on the page: use the one answered above
            quiz_el = page.locator(".llmcourse-quiz").filter(has=page.locator(f".llmcourse-q-{question.id}")).first
            switch = quiz_el.locator(".llmcourse-lang")
            assert switch.count(), "every question is translated, so every quiz shows the language switch"
            switch.get_by_text("中文").click()
            first.get_by_text(_shown(question.prompt_zh)).first.wait_for()
            # The choice is remembered in the progress file the next run shares: switch back to English.
            switch.get_by_text("English").click()
            first.get_by_text(_shown(question.prompt)).first.wait_for()
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"browser-failure-{ui}.png"))
            print(f"server log: {server['log']}\n{server['log'].read_text()[-2000:]}")
            raise
        finally:
            context.close()
    print(f"{ui}: browser test took {time.monotonic() - started:.1f} s; screenshots in {ARTIFACTS}")


def _open_lab(pw, srv: dict, name: str, profile: str):
    """A Chromium context with JupyterLab showing the notebook `name` and its kernel idle: (context, page)."""
    context = pw.chromium.launch_persistent_context(
        str(srv["root"] / f"chromium-profile-{profile}"), executable_path=str(CHROMIUM), headless=True,
        args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1000}, timeout=UI_TIMEOUT_MS)
    page = context.pages[0] if context.pages else context.new_page()
    page.set_default_timeout(UI_TIMEOUT_MS)
    page.goto(f"{srv['base']}/{UIS['lab'].format(name=name)}")
    page.locator(".jp-Notebook .jp-Cell").first.wait_for()
    _wait_for_kernel(srv["base"], name)
    page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle'] >> visible=true").first.wait_for()
    return context, page


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _nbgrader_menu(page) -> list[str]:
    """The entries of JupyterLab's Nbgrader menu (empty when the menu is absent); closes the menu again."""
    menu = page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
    if not menu.count():
        return []
    menu.first.click()
    items = page.locator(".lm-Menu-content .lm-Menu-item:not(.lm-mod-hidden) .lm-Menu-itemLabel")
    items.first.wait_for()
    labels = [t.strip() for t in items.all_inner_texts()]
    page.keyboard.press("Escape")
    return labels


def test_failing_check_shows_its_message_only(server):
    """The stub's first check in JupyterLab: one line with the message, no traceback through llmcourse."""
    ARTIFACTS.mkdir(exist_ok=True)
    with server["pw"]() as pw:
        context, page = _open_lab(pw, server, STUB.name, "check")
        try:
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-content").get_by_text("Run All Cells", exact=True).click()
            error = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']",
                                 has_text="CheckFailed").first
            error.wait_for()
            error.scroll_into_view_if_needed()
            deadline = time.monotonic() + 15
            while not (text := error.inner_text().strip()) and time.monotonic() < deadline:
                time.sleep(0.2)  # attached before it is laid out: wait until it shows text
            height = error.bounding_box()["height"]
            line_px = error.evaluate("e => parseFloat(getComputedStyle(e.querySelector('pre') || e).lineHeight)")
            error.screenshot(path=str(ARTIFACTS / "browser-failing-check.png"))
            print(f"failing check output: {len(text.splitlines())} line(s), {height:.0f} px "
                  f"(line height {line_px:.1f} px): {text!r}")
            assert text == "CheckFailed: softmax: not implemented yet (replace `raise NotImplementedError()` " \
                           "with your code)", text
            assert "llmcourse" not in text and "Traceback" not in text
            # one line of text plus the output's padding; the old traceback was 31 lines (about 530 px)
            assert height <= 3 * line_px, f"{height} px for a one-line message (line height {line_px} px)"
        except Exception:
            page.screenshot(path=str(ARTIFACTS / "browser-failure-check.png"))
            print(f"server log: {server['log']}\n{server['log'].read_text()[-2000:]}")
            raise
        finally:
            context.close()


@pytest.mark.parametrize("mode", ["learner", "instructor"])
def test_instructor_tools_only_for_instructors(mode, request):
    """Learners (make lab, Binder) get Validate and the assignment list; instructors also get the rest."""
    srv = request.getfixturevalue("server" if mode == "learner" else "instructor_server")
    ARTIFACTS.mkdir(exist_ok=True)
    with srv["pw"]() as pw:
        context, page = _open_lab(pw, srv, NOTEBOOK.name, f"tools-{mode}")
        try:
            page.locator(".jp-NotebookPanel-toolbar .jp-ToolbarButtonComponent-label >> visible=true",
                         has_text=re.compile(r"^Validate$")).first.wait_for()
            menu = _nbgrader_menu(page)
            create_tab = page.locator(".lm-TabBar-tab[data-id='nbgrader-create_assignemnt']")
            formgrader = _http_status(f"{srv['base']}/formgrader")
            news = page.get_by_text(re.compile(r"Jupyter news", re.IGNORECASE))
            page.screenshot(path=str(ARTIFACTS / f"browser-tools-{mode}.png"))
            print(f"{mode}: Nbgrader menu {menu}, Create Assignment tabs {create_tab.count()}, "
                  f"/formgrader {formgrader}, news prompts {news.count()}")
            assert "Assignment List" in menu
            if mode == "learner":
                assert not {"Formgrader", "Formgrader (local)", "Course List", "Create assignment"} & set(menu), menu
                assert create_tab.count() == 0, "the Create Assignment panel is an instructor tool"
                assert formgrader == 404, "the formgrader server extension must be off for learners"
                assert news.count() == 0, "no news prompt for learners"
            else:
                assert {"Formgrader", "Course List", "Create assignment"} <= set(menu), menu
                assert create_tab.count() == 1
                assert formgrader != 404
        except Exception:
            page.screenshot(path=str(ARTIFACTS / f"browser-failure-tools-{mode}.png"))
            print(f"server log: {srv['log']}\n{srv['log'].read_text()[-2000:]}")
            raise
        finally:
            context.close()
