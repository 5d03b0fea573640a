"""The build refuses malformed sources and names the file, line and cell."""

from __future__ import annotations

import pytest

from autograde import build

SOL = '{"grade": false, "grade_id": "f", "locked": false, "solution": true, "schema_version": 3}'
TEST = '{"grade": true, "grade_id": "f_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}'
GOOD = f'''# %% [markdown]
# # Demo

# %% nbgrader={SOL}
def f(x):
    ### BEGIN SOLUTION
    return x + 1
    ### END SOLUTION

# %% nbgrader={TEST}
assert f(1) == 2
### BEGIN HIDDEN TESTS
assert f(2) == 3
### END HIDDEN TESTS
'''


def source(tmp_path, text):
    path = tmp_path / "solutions" / "50_demo" / "50_demo.py"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_good_source_builds_clean_notebook(tmp_path):
    nb = build.read_source(source(tmp_path, GOOD))
    assert [c.id for c in nb.cells] == ["cell-000", "f", "f-test"]
    assert all(c.get("outputs", []) == [] for c in nb.cells)
    assert nb.cells[1].metadata["nbgrader"]["grade_id"] == "f"
    assert "lines_to_next_cell" not in nb.cells[1].metadata


@pytest.mark.parametrize("old, new, message, line", [
    (SOL, SOL.replace('"locked": false,', '"locked": false'), "not valid JSON", 4),
    (SOL, SOL.replace(', "schema_version": 3', ""), "schema_version", 4),
    (TEST, TEST.replace('"f_test"', '"f"'), "duplicate grade_id 'f'", 10),
    (SOL, SOL.replace('"f"', '"F-1"'), "must match", 4),
    ("    ### END SOLUTION\n", "", "unbalanced ### BEGIN SOLUTION", 4),
    ("### BEGIN HIDDEN TESTS\nassert f(2) == 3\n### END HIDDEN TESTS\n", "", "no ### BEGIN HIDDEN TESTS", 10),
    (TEST, TEST.replace('"points": 1', '"points": 0'), "positive \"points\"", 10),
    (TEST, TEST.replace('"f_test"', '"g_test"'), "no solution cell 'g'", 10),
    (TEST, TEST.replace('"f_test"', '"check_f"'), "'<exercise>_test'", 10),
    (TEST, TEST.replace('"locked": true', '"locked": false'), "must be locked", 10),
    ("# # Demo\n", "# # Demo\n\n# %%\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION\n", "would leak", 4),
])
def test_bad_sources_are_refused_with_location(tmp_path, old, new, message, line):
    assert old in GOOD
    path = source(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(build.BuildError, match=message) as info:
        build.read_source(path)
    assert f"{path}:{line}" in str(info.value)


def test_misnamed_assignment_folder(tmp_path):
    (tmp_path / "solutions" / "Week1").mkdir(parents=True)
    with pytest.raises(build.BuildError, match="NN_slug"):
        build.discover(tmp_path)


def test_missing_source_file(tmp_path):
    (tmp_path / "solutions" / "50_demo").mkdir(parents=True)
    with pytest.raises(build.BuildError, match="missing its source file"):
        build.discover(tmp_path)


def test_cli_reports_build_error(tmp_path, monkeypatch, capsys):
    source(tmp_path, GOOD.replace(', "schema_version": 3', "", 1))
    monkeypatch.setattr(build, "REPO", tmp_path)
    monkeypatch.setattr(build.build, "__defaults__", (tmp_path, None, False, None))
    assert build.main([]) == 2
    assert "schema_version" in capsys.readouterr().err
