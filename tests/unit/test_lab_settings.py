"""The learner's JupyterLab settings (jupyter-config/learner) as `make lab` and Binder load them.

The browser test shows their effect in JupyterLab; these checks run without a browser: the settings name
plugins and server extensions that exist in the installed versions, the config path turns them off, and
`make lab` and binder/postBuild both use the folder.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from autograde.settings import REPO

LEARNER = REPO / "jupyter-config" / "learner"
SHARE = Path(sys.prefix) / "share" / "jupyter"
HIDDEN_PLUGINS = {"@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
                  "@jupyter/nbgrader:course-list", "@jupyterlab/apputils-extension:announcements"}
KEPT_PLUGINS = {"@jupyter/nbgrader:validate-assignment", "@jupyter/nbgrader:assignment-list"}


def _plugin_ids() -> str:
    """The text of every installed JupyterLab bundle, where each plugin's id is written out."""
    files = [*(SHARE / "lab" / "static").glob("*.js"), *(SHARE / "labextensions").glob("**/static/*.js")]
    if not files:
        pytest.skip(f"no JupyterLab bundles under {SHARE}")
    return "".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


@pytest.fixture
def learner_env(monkeypatch, tmp_path):
    """JUPYTER_CONFIG_PATH as `make lab` sets it, with an empty user config folder."""
    monkeypatch.setenv("JUPYTER_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("JUPYTER_CONFIG_PATH", str(LEARNER))


def test_disabled_plugins_exist_and_learner_tools_stay():
    page = json.loads((LEARNER / "labconfig" / "page_config.json").read_text())
    disabled = {k for k, v in page["disabledExtensions"].items() if v}
    assert disabled == HIDDEN_PLUGINS
    bundles = _plugin_ids()
    for plugin in HIDDEN_PLUGINS | KEPT_PLUGINS:
        assert f'"{plugin}"' in bundles, f"{plugin} is not an installed JupyterLab plugin (renamed upstream?)"


def test_the_config_path_turns_the_plugins_off(learner_env):
    from jupyterlab_server.config import get_static_page_config

    disabled = get_static_page_config(level="all").get("disabledExtensions", {})
    disabled = set(disabled) if isinstance(disabled, list) else {k for k, v in disabled.items() if v}
    assert HIDDEN_PLUGINS <= disabled and not KEPT_PLUGINS & disabled


def test_the_config_path_turns_the_instructor_server_extensions_off(learner_env):
    from jupyter_core.paths import jupyter_config_path
    from jupyter_server.extension.config import ExtensionConfigManager

    found = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()
    assert found["nbgrader.server_extensions.formgrader"] is False
    assert found["nbgrader.server_extensions.course_list"] is False
    assert found["nbgrader.server_extensions.validate_assignment"] is True
    assert found["nbgrader.server_extensions.assignment_list"] is True
    server = json.loads((LEARNER / "jupyter_server_config.json").read_text())
    assert server["LabApp"]["news_url"] is None, "no news feed for learners"


def test_make_lab_and_binder_use_the_learner_settings():
    makefile = (REPO / "Makefile").read_text()
    lab = re.search(r"^lab: .*?(?=^\S)", makefile, re.M | re.S).group(0)
    assert "JUPYTER_CONFIG_PATH" in lab and "LEARNER_CONFIG" in lab
    assert "LEARNER_CONFIG := $(CURDIR)/jupyter-config/learner" in makefile
    instructor = re.search(r"^lab-instructor: .*?(?=^\S)", makefile, re.M | re.S).group(0)
    assert "JUPYTER_CONFIG_PATH" not in instructor
    post = (REPO / "binder" / "postBuild").read_text()
    assert "jupyter-config/learner/." in post and "jupyter --config-dir" in post
    readme = (REPO / "README.md").read_text()
    assert "make lab-instructor" in readme
