"""pyproject.toml, environment.yml and binder/ name the same packages with the same pins."""

from __future__ import annotations

import os
import re
import tomllib

import yaml

from autograde.settings import REPO


def pyproject_pins() -> dict[str, str]:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = {}
    for dep in deps:
        name, _, version = dep.partition("==")
        assert version, f"{dep} is not pinned exactly"
        pins[name.lower()] = version
    return pins


def conda_pins(path) -> tuple[dict[str, str], list[str]]:
    env = yaml.safe_load(path.read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    pins, other = {}, []
    for item in pip:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s]+)", item)
        if m:
            pins[m.group(1).lower()] = m.group(2)
        else:
            other.append(item)
    assert "python=3.11" in env["dependencies"]
    return pins, other


def test_torch_pinned_to_the_cpu_build_on_disk():
    assert pyproject_pins()["torch"] == "2.13.0"


def test_environment_yml_matches_pyproject():
    pins, other = conda_pins(REPO / "environment.yml")
    assert pins == pyproject_pins()
    assert other == ["-e ."]


def test_binder_matches_pyproject():
    pins, other = conda_pins(REPO / "binder" / "environment.yml")
    assert pins == pyproject_pins()
    assert all(o.startswith("--extra-index-url") for o in other)
    post = REPO / "binder" / "postBuild"
    assert os.access(post, os.X_OK) and "pip install" in post.read_text()


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "make lab" in readme and "make test" in readme
    ci = (REPO / ".ci" / "run").read_text()
    assert re.search(r"^make test$", ci, re.M)
    assert "mybinder.org" in readme and "urlpath=lab" in readme
