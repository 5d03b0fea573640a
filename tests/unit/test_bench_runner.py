"""benchmarks/__main__.py: each module runs in its own process and the JSON file holds valid records."""

from __future__ import annotations

import json

import pytest

from benchmarks import __main__ as runner


def test_one_module_in_a_child_process_writes_valid_records(tmp_path):
    out = tmp_path / "bench.json"
    assert runner.main(["cost_model", "--quick", "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    records = data["records"]
    assert {r["name"] for r in records} >= {"cost_model_decode_error_pct", "cost_model_read_bandwidth"}
    for r in records:
        runner.validate(r)
        assert r["cpu"]["kind"] in {"avx512", "avx2", "other"} and "avx2" in r["cpu"]["flags"]
    assert data["quick"] is True and data["history"][data["cpu"]["kind"]][-1]["records"] == records
    err = next(r for r in records if r["name"] == "cost_model_decode_error_pct")
    assert err["target_met"] is None and "30" in err["target"]              # stated, not judged on --quick


def test_unknown_module_is_a_clear_error():
    with pytest.raises(SystemExit, match="no benchmark module benchmarks/bench_nope.py"):
        runner.run_isolated("nope", quick=True)


def test_validate_rejects_missing_fields_and_non_finite_numbers():
    good = {"name": "x", "value": 1.0, "unit": "s", "baseline": None, "ratio": None, "limit": None,
            "pct_of_limit": None}
    assert runner.validate(dict(good)) == good
    with pytest.raises(ValueError, match="lacks"):
        runner.validate({"name": "x"})
    with pytest.raises(ValueError, match="finite"):
        runner.validate({**good, "ratio": float("nan")})


def rec(name, value, ratio=None, **extra):
    return {"name": name, "value": value, "unit": "x", "baseline": None, "ratio": ratio, "limit": None,
            "pct_of_limit": None, **extra}


def test_aggregate_takes_the_median_over_runs_and_keeps_the_spread():
    runs = [[rec("a", 1.0, 3.0, ratio_rounds_min=2.0, ratio_rounds_max=4.0, note="first")],
            [rec("a", 5.0, 2.0, ratio_rounds_min=1.5, ratio_rounds_max=3.0, note="second")],
            [rec("a", 2.0, 9.0, ratio_rounds_min=2.5, ratio_rounds_max=9.5, note="third")]]
    (a,) = runner.aggregate(runs)
    assert a["runs"] == 3 and a["value"] == 2.0 and a["ratio"] == 3.0          # medians, not the first run
    assert a["value_runs"] == [1.0, 5.0, 2.0] and (a["value_min"], a["value_max"]) == (1.0, 5.0)
    assert a["ratio_runs"] == [3.0, 2.0, 9.0] and (a["ratio_min"], a["ratio_max"]) == (2.0, 9.0)
    assert (a["ratio_rounds_min"], a["ratio_rounds_max"]) == (1.5, 9.5)          # widest spread of the rounds
    assert a["note"] == "first"
    runner.validate(a)


def test_aggregate_of_one_run_passes_through_and_nulls_stay_null():
    (one,) = runner.aggregate([[rec("b", 4.0)]])
    assert one["value"] == 4.0 and one["runs"] == 1 and "value_runs" not in one
    (two,) = runner.aggregate([[rec("b", 4.0)], [rec("b", 6.0)]])
    assert two["value"] == 5.0 and two["ratio"] is None and "ratio_runs" not in two


def test_annotate_attaches_cpu_and_target_verdicts():
    cpu = {"model": "AMD EPYC", "kind": "avx2", "flags": {"avx2": True, "avx512f": False}, "cores": 2}
    got = runner.annotate([rec("int4_gemv_4096", 2.0, ratio=2.7), rec("other", 1.0)], cpu)
    assert all(r["cpu"] == cpu for r in got)
    assert got[0]["target_met"] is True and "avx2 kind" in got[0]["target"]
    assert "target" not in got[1]


def test_results_file_keeps_a_history_per_cpu_kind(tmp_path):
    out = tmp_path / "bench.json"
    out.write_text(json.dumps([rec("old", 1.0)]))                               # schema 1: a bare list
    avx512 = {"model": "A", "kind": "avx512"}
    avx2 = {"model": "B", "kind": "avx2"}
    runner.write_results(out, [rec("x", 1.0)], avx512, False, ["quant"], now="2026-12-07T03:00:00+00:00")
    data = runner.write_results(out, [rec("x", 2.0)], avx2, False, ["quant"], now="2026-12-07T04:00:00+00:00")
    assert data["schema"] == runner.SCHEMA and data["cpu"] == avx2 and data["records"][0]["value"] == 2.0
    saved = json.loads(out.read_text())
    assert saved == data
    assert set(saved["history"]) == {"unknown", "avx512", "avx2"}             # the other kind's run is kept
    assert saved["history"]["avx512"][0]["records"][0]["value"] == 1.0
    assert saved["history"]["unknown"][0]["records"][0]["name"] == "old"
    for i in range(runner.HISTORY_PER_KIND + 3):
        runner.write_results(out, [rec("x", float(i))], avx2, False, ["quant"])
    runs = json.loads(out.read_text())["history"]["avx2"]
    assert len(runs) == runner.HISTORY_PER_KIND and runs[-1]["records"][0]["value"] == runner.HISTORY_PER_KIND + 2


def test_table_shows_the_latest_full_run_of_each_kind(tmp_path):
    out = tmp_path / "bench.json"
    r = runner.annotate(runner.aggregate([[rec("int4_gemv_4096", 1.0, ratio=2.0)],
                                          [rec("int4_gemv_4096", 1.0, ratio=3.0)]]), {"model": "B", "kind": "avx2"})
    runner.write_results(out, r, {"model": "B", "kind": "avx2"}, False, ["quant"], now="2026-12-07T04:00:00+00:00")
    runner.write_results(out, [rec("int4_gemv_4096", 1.0, ratio=0.1)], {"model": "B", "kind": "avx2"}, True,
                         ["quant"])                                                  # a --quick run: not shown
    text = runner.table(json.loads(out.read_text()))
    assert "| `int4_gemv_4096` | avx2 | B | 2026-12-07 | 2.5x (2-3 over 2 runs) | met |" in text


def test_modules_declare_how_many_runs_decide_a_record():
    assert runner.default_repeat("quant") >= 3 and runner.default_repeat("cost_model") >= 3
    assert runner.default_repeat("inference") == 1


def test_repeat_must_be_positive():
    with pytest.raises(SystemExit):
        runner.main(["cost_model", "--repeat", "0"])


def test_cpu_target_run_is_its_own_history_kind_and_never_judged(tmp_path):
    cpu = {"model": "AMD EPYC", "kind": "avx512", "code_target": "haswell"}
    assert runner.history_kind(cpu) == "haswell-code-on-avx512"
    assert runner.history_kind({"kind": "avx2"}) == "avx2"
    got = runner.annotate([rec("int4_gemv_4096", 2.0, ratio=9.0), rec("cost_model_decode_error_pct", 1.0)], cpu)
    assert [r["target_met"] for r in got] == [None, None]
    assert got[0]["code_path"] == "avx2" and "avx2 kind on this avx512 machine" in got[0]["target"]
    assert got[1]["code_path"] == "avx2" and "inspection run" in got[1]["target"]   # given the runner's code_path
    # on a machine of the target's own kind too: the code is haswell's, not what that machine would run
    (same,) = runner.annotate([rec("int4_gemv_4096", 2.0, ratio=9.0)], {"kind": "avx2", "code_target": "znver3"})
    assert same["target_met"] is None and "--cpu-target" in same["target"]
    out = tmp_path / "bench.json"
    runner.write_results(out, got, {"model": "A", "kind": "avx512"}, False, ["quant"])
    data = runner.write_results(out, got, cpu, False, ["quant"])
    assert set(data["history"]) == {"avx512", "haswell-code-on-avx512"}


def test_cpu_target_choices_are_the_kernels_targets():
    from benchmarks import kernels_quant as kq

    assert set(runner.CPU_TARGETS) == set(kq.CPU_TARGETS)
    with pytest.raises(SystemExit):
        runner.main(["quant", "--cpu-target", "pentium4"])


def test_child_process_gets_the_extra_environment(monkeypatch, tmp_path):
    seen = {}

    def fake_run(cmd, cwd, stdout, text, env):
        seen.update(env)

        class Done:
            returncode = 0
            stdout = '@@records []\n'
        return Done()
    monkeypatch.setattr(runner.subprocess, "run", fake_run)
    assert runner.run_isolated("quant", True, {"NUMBA_CPU_NAME": "haswell"}) == []
    assert seen["NUMBA_CPU_NAME"] == "haswell" and "PATH" in seen
