"""llmcourse.cudasim picks the simulator without a GPU; bench_cuda skips with the reason."""

from __future__ import annotations

import subprocess
import sys

import pytest

from benchmarks import __main__ as runner
from benchmarks import bench_cuda
from llmcourse import cudasim


def test_forced_simulator_and_an_existing_setting_are_respected(monkeypatch):
    monkeypatch.setenv(cudasim.FORCE_ENV, "simulator")
    assert cudasim.decide()[0] == "simulator"
    monkeypatch.delenv(cudasim.FORCE_ENV)
    monkeypatch.setenv(cudasim.SIM_ENV, "1")
    assert cudasim.decide() == ("simulator", f"{cudasim.SIM_ENV}=1 was already set")


def test_no_driver_means_simulator(monkeypatch):
    monkeypatch.delenv(cudasim.SIM_ENV, raising=False)
    monkeypatch.delenv(cudasim.FORCE_ENV, raising=False)
    monkeypatch.setattr(cudasim, "driver_gpu_count", lambda: 0)
    mode, why = cudasim.decide()
    assert mode == "simulator" and "no NVIDIA GPU" in why
    monkeypatch.setenv(cudasim.FORCE_ENV, "native")
    with pytest.raises(RuntimeError, match="no GPU"):
        cudasim.decide()


def test_a_gpu_that_cannot_compile_falls_back(monkeypatch):
    monkeypatch.delenv(cudasim.SIM_ENV, raising=False)
    monkeypatch.delenv(cudasim.FORCE_ENV, raising=False)
    monkeypatch.setattr(cudasim, "driver_gpu_count", lambda: 1)
    monkeypatch.setattr(cudasim, "native_works", lambda: (False, "no NVVM"))
    assert cudasim.decide() == ("simulator", "no NVVM")
    monkeypatch.setattr(cudasim, "native_works", lambda: (True, "NVIDIA H100"))
    assert cudasim.decide() == ("native", "NVIDIA GPU: NVIDIA H100")


def test_select_after_numba_was_imported_still_gives_the_simulator():
    code = ("import os, numba; os.environ.pop('NUMBA_ENABLE_CUDASIM', None)\n"
            "os.environ['LLMCOURSE_CUDA'] = 'simulator'\n"
            "from llmcourse import cudasim; assert cudasim.select() == 'simulator'\n"
            "import numpy as np; from numba import cuda\n"
            "@cuda.jit\ndef k(a):\n    a[cuda.grid(1)] += 1\n"
            "a = np.zeros(8, np.float32)\n"
            "try:\n    k[2, 8](a)\nexcept IndexError:\n    print('SIMULATED-BOUNDS-CHECK')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "CUDA simulator" in done.stdout and "SIMULATED-BOUNDS-CHECK" in done.stdout


def test_bench_cuda_skips_with_the_reason_without_a_gpu(monkeypatch, capsys):
    monkeypatch.setattr(cudasim, "decide", lambda: ("simulator", "no NVIDIA GPU found"))
    records = bench_cuda.run(quick=True)
    assert [r["name"] for r in records] == ["cuda_flash_attention_T4096", "cuda_int8_gemv_4096"]
    for r in records:
        runner.validate(r)
        assert r["value"] is None and "no NVIDIA GPU" in r["skipped"]
        runner.print_record(r)
    assert capsys.readouterr().out.count("skipped (") == 2


def _native_reason() -> str | None:
    if cudasim.driver_gpu_count() == 0:
        return "no NVIDIA GPU (the CPU twin: the 15_gpu_kernels gates run the same notebook in the simulator)"
    ok, detail = cudasim.native_works()
    return None if ok else detail


@pytest.mark.gpu
@pytest.mark.slow
def test_the_notebook_passes_natively_on_a_gpu():
    reason = _native_reason()
    if reason:
        pytest.skip(reason)
    from autograde import nbrun
    from autograde.settings import REPO, SOURCE_DIR

    path = REPO / SOURCE_DIR / "15_gpu_kernels" / "15_gpu_kernels.ipynb"
    done = nbrun.execute(path, small=False, timeout=600, extra_env={cudasim.FORCE_ENV: "native"})
    assert not nbrun.errors_outside_tests(done)
    failed = [f"{r.grade_id}: {r.detail}" for r in nbrun.graded_results(done) if not r.passed]
    assert not failed, failed
    text = "".join(o.get("text", "") for c in done.cells for o in c.get("outputs", []))
    assert "numba.cuda runs natively" in text


@pytest.mark.slow
def test_the_grader_scores_module_15_in_the_simulator(tmp_path):
    """End to end through `make grade`'s pipeline: the solution scores full marks, the untouched stubs 0.

    The grader's guard imports numba.cuda before the notebook runs, so the kernel must start in simulator
    mode (grade.py sets NUMBA_ENABLE_CUDASIM=1), and the tests must not lean on `inspect` (importing torch
    replaces inspect.getfile, which the guard would report as tampering).
    """
    import nbformat

    from autograde.grade import GradeOptions, grade
    from autograde.settings import REPO
    from tests.autograde import classgen

    course = classgen.make_course(tmp_path, "15_gpu_kernels")
    classgen.write(course, "solved", classgen.correct(course))
    stubs = course.root / "course" / "15_gpu_kernels" / "15_gpu_kernels.ipynb"
    classgen.write(course, "untouched", nbformat.read(stubs, as_version=4))
    result = grade(GradeOptions(assignment=course.assignment, submissions=course.submitted, out=tmp_path / "out",
                                course_root=course.root, gradebook=course.root / "gradebook.db", workers=2,
                                small=True, progress=False, env={"PYTHONPATH": str(REPO)}))
    students = result["students"]
    assert students["solved"]["score"] == students["solved"]["max_score"] == 19, students["solved"]
    assert students["untouched"]["score"] == 0
    assert not students["solved"]["flags"]
