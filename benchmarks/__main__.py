"""Run every benchmark module and write bench-results.json at the repository root.

    python -m benchmarks                    # all benchmarks, each speed benchmark repeated (see REPEAT)
    python -m benchmarks quant cost_model   # only benchmarks/bench_quant.py and bench_cost_model.py
    python -m benchmarks lowrank prune      # module 10's and module 09's records
    python -m benchmarks --repeat 5 quant   # five runs of each module instead of its default
    python -m benchmarks --quick            # smaller sizes, one run (used by the tests to check the plumbing)
    python -m benchmarks --table            # print the README's table from bench-results.json, run nothing
    python -m benchmarks --cpu-target haswell quant   # Numba code for an AVX2-only CPU, run on this one

Each module runs in a fresh Python process, so that the thread pools, caches and allocations one leaves
behind (torch's OpenMP threads after the KV-cache run, gigabytes of freed copies) cannot slow the next.
One run does not decide a record: a module that sets REPEAT = n (quant and cost_model: 3) runs n times, each
in its own process, and each record's headline figures (value, ratio, ...) are the median over the runs, with
`<field>_runs` holding every run's figure and `<field>_min` / `<field>_max` their spread. Within a run each
ratio is already the median of round-robin rounds (`ratio_rounds_min` / `_max` give the rounds' spread).

Every record carries `cpu` (model name, kind, the instruction-set flags that matter, cores: see
llmcourse.env.cpu_record) and, where a target is set for it (benchmarks/targets.py), `target` and
`target_met`. bench-results.json holds this run (`records`, `cpu`, `date`) and a history of runs per kind of
CPU (`history`: {"avx512": [...], "avx2": [...]}, newest last), so that one machine's results never replace
the other kind's.

--cpu-target haswell (or znver3) sets NUMBA_CPU_NAME and NUMBA_CPU_FEATURES for the benchmark processes, so Numba
compiles every kernel for that AVX2 + FMA CPU without AVX-512 or VNNI, and the int8 / int4 dispatch picks that
kind's kernels. The code then runs on this machine's cores, caches and memory, which no setting can turn into an
AVX2 machine's: the run is kept under its own history kind ("haswell-code-on-avx512"), its `cpu` says
`code_target`, and no target is judged on it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from llmcourse import env

from . import targets

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("name", "value", "unit", "baseline", "ratio", "limit", "pct_of_limit")
SCHEMA = 2
HISTORY_PER_KIND = 20
SPREAD_FIELDS = ("value", "ratio")  # fields whose every-run figures and min-max are kept in the record
CPU_TARGETS = {"haswell": "avx2", "znver3": "avx2"}  # --cpu-target -> the kind of code (kernels_quant.CPU_TARGETS)


def validate(record: dict) -> dict:
    """Check one record's fields and types; return it."""
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ValueError(f"benchmark record {record.get('name')!r} lacks {missing}")
    for key in ("value", "ratio", "limit", "pct_of_limit"):
        v = record[key]
        if v is not None and not (isinstance(v, (int, float)) and math.isfinite(v)):
            raise ValueError(f"benchmark record {record['name']!r}: {key} must be a finite number or null")
    return record


def default_repeat(name: str) -> int:
    """The module's REPEAT (runs per `make bench`), read without importing it (it may load numba or torch)."""
    path = Path(__file__).parent / f"bench_{name}.py"
    for line in path.read_text().splitlines():
        if line.startswith("REPEAT = "):
            return int(line.removeprefix("REPEAT = ").split("#")[0])
    return 1


def run_isolated(name: str, quick: bool, extra_env: dict[str, str] | None = None) -> list[dict]:
    """benchmarks/bench_<name>.py's run(quick) in a child Python process (with extra_env set); its records."""
    if not (Path(__file__).parent / f"bench_{name}.py").is_file():
        raise SystemExit(f"no benchmark module benchmarks/bench_{name}.py")
    code = (f"import json; from benchmarks import bench_{name} as m; "
            f"print('@@records ' + json.dumps(m.run(quick={quick})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                          env={**os.environ, **(extra_env or {})})
    if done.returncode:
        raise SystemExit(f"benchmark {name} failed (exit {done.returncode}); its errors are above")
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@records ")]
    if not lines:
        raise SystemExit(f"benchmark {name} printed no records")
    return json.loads(lines[-1].removeprefix("@@records "))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def aggregate(runs: list[list[dict]]) -> list[dict]:
    """One record per name from several runs of a module: numbers are the median over runs (a `*_min` field
    takes the smallest, a `*_max` the largest), other fields come from the first run; value and ratio keep
    every run's figure (`value_runs`) and their spread (`value_min`, `value_max`). One run passes through with
    only `runs` = 1 added."""
    if not runs:
        raise ValueError("aggregate needs at least one run")
    by_name: dict[str, list[dict]] = {}
    for records in runs:
        for r in records:
            by_name.setdefault(r["name"], []).append(r)
    out = []
    for recs in by_name.values():
        merged = dict(recs[0])
        merged["runs"] = len(recs)
        if len(recs) > 1:
            for key, first in recs[0].items():
                values = [r.get(key) for r in recs]
                if not (_is_number(first) and all(_is_number(v) for v in values)):
                    continue
                if key.endswith("_min"):
                    merged[key] = min(values)
                elif key.endswith("_max"):
                    merged[key] = max(values)
                else:
                    merged[key] = statistics.median(values)
                if key in SPREAD_FIELDS:
                    merged[f"{key}_runs"] = values
                    merged[f"{key}_min"], merged[f"{key}_max"] = min(values), max(values)
        out.append(merged)
    return out


def annotate(records: list[dict], cpu: dict, quick: bool = False) -> list[dict]:
    """Attach the CPU description and the target verdicts (benchmarks/targets.py) to every record. Under a
    --cpu-target every record's `code_path` is that target's kind, so no target is judged on it."""
    for r in records:
        r["cpu"] = cpu
        if cpu.get("code_target"):
            r.setdefault("code_path", CPU_TARGETS[cpu["code_target"]])
    targets.evaluate_all(records, str(cpu["kind"]), quick)
    if cpu.get("code_target"):  # even on a machine of the target's kind: the code is not the one it would run
        for r in records:
            if r.get("target_met") is not None:
                r["target_met"] = None
                r["target"] += f" (code built for {cpu['code_target']} by --cpu-target: not judged)"
    return records


def write_results(path: Path, records: list[dict], cpu: dict, quick: bool, modules: list[str],
                  now: str | None = None) -> dict:
    """Write this run and the history per CPU kind (older files, including schema 1's bare list, are kept)."""
    run = {"date": now or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
           "cpu": cpu, "quick": quick, "modules": modules, "records": records}
    history: dict[str, list] = {}
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = None
        if isinstance(old, dict) and isinstance(old.get("history"), dict):
            history = old["history"]
        elif isinstance(old, list):  # schema 1: a bare list of records from a machine it did not name
            history = {"unknown": [{"date": None, "cpu": None, "quick": None, "modules": None, "records": old}]}
    kind_runs = history.setdefault(history_kind(cpu), [])
    kind_runs.append(run)
    del kind_runs[:-HISTORY_PER_KIND]
    data = {"schema": SCHEMA, **run, "history": history}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return data


def history_kind(cpu: dict) -> str:
    """The history a run belongs to: the CPU's kind, or "<target>-code-on-<kind>" for a --cpu-target run."""
    target = cpu.get("code_target")
    return f"{target}-code-on-{cpu['kind']}" if target else str(cpu["kind"])


def _spread_text(r: dict, key: str) -> str:
    lo, hi = r.get(f"{key}_min"), r.get(f"{key}_max")
    return f" ({lo:.3g}-{hi:.3g} over {r['runs']} runs)" if lo is not None and hi is not None else ""


def print_record(r: dict) -> None:
    """One or two lines for a record: its figures, spread over runs, and target verdict."""
    ratio = f"  ratio {r['ratio']:.2f}x{_spread_text(r, 'ratio')} vs {r['baseline']}" if r["ratio"] is not None else ""
    value_spread = _spread_text(r, "value") if r["ratio"] is None else ""
    pct = f"  {r['pct_of_limit']:.0f}% of limit" if r["pct_of_limit"] is not None else ""
    if r["value"] is None and r.get("skipped"):
        print(f"  {r['name']}: skipped ({r['skipped']})")
        return
    print(f"  {r['name']}: {r['value']:.4g} {r['unit']}{value_spread}{ratio}{pct}")
    if "target" in r:
        verdict = {True: "MET", False: "MISSED", None: "not judged"}[r["target_met"]]
        print(f"      target {verdict}: {r['target']}")


def table(data: dict) -> str:
    """A Markdown table of the latest run of each CPU kind in a bench-results.json (for the README)."""
    lines = ["| record | kind | CPU | date | median (min-max over runs) | target |", "|---|---|---|---|---|---|"]
    for kind, kind_runs in sorted(data.get("history", {}).items()):
        full = [r for r in kind_runs if not r.get("quick")] or kind_runs
        run = full[-1]
        for r in run["records"]:
            key = "ratio" if r.get("ratio") is not None else "value"
            fig = (f"skipped: {r['skipped']}" if r[key] is None and r.get("skipped") else
                   f"{r[key]:.3g}{'x' if key == 'ratio' else ' ' + r['unit']}{_spread_text(r, key)}")
            verdict = {True: "met", False: "missed", None: "-"}.get(r.get("target_met"), "-")
            cpu = run.get("cpu") or {}
            lines.append(f"| `{r['name']}` | {kind} | {cpu.get('model', '?')} | {(run.get('date') or '?')[:10]} "
                         f"| {fig} | {verdict if 'target' in r else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark modules and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="benchmark module names (bench_<name>.py)")
    parser.add_argument("--quick", action="store_true", help="small sizes, one run: for checking the plumbing")
    parser.add_argument("--repeat", type=int, default=None,
                        help="runs of each module (default: the module's REPEAT, 1 with --quick)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results.json")
    parser.add_argument("--table", action="store_true", help="print a Markdown table of --out and exit")
    parser.add_argument("--cpu-target", choices=sorted(CPU_TARGETS),
                        help="compile the Numba kernels for this AVX2 CPU (run on this machine; not judged)")
    args = parser.parse_args(argv)
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return 0
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    names = args.only or sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    cpu = env.cpu_record()
    extra_env = None
    if args.cpu_target:
        from . import kernels_quant  # imports numba: only for this option

        extra_env = kernels_quant.cpu_target_env(args.cpu_target)
        cpu["code_target"] = args.cpu_target
    print(f"CPU: {env.describe_cpu_record(cpu)}")
    if args.cpu_target:
        print(f"Numba code for {args.cpu_target} ({CPU_TARGETS[args.cpu_target]} kind) on this {cpu['kind']} "
              f"machine: kept as history kind {history_kind(cpu)!r}, no target judged")
    records = []
    for name in names:
        start = time.perf_counter()
        n = args.repeat or (1 if args.quick else default_repeat(name))
        runs = []
        for i in range(n):
            runs.append([validate(r) for r in run_isolated(name, args.quick, extra_env)])
            if n > 1:
                print(f"[{name}] run {i + 1}/{n} done ({time.perf_counter() - start:.0f} s)", flush=True)
        got = annotate(aggregate(runs), cpu, args.quick)
        print(f"[{name}] {len(got)} record(s) from {n} run(s) in {time.perf_counter() - start:.1f} s")
        for r in got:
            print_record(r)
        records += got
    write_results(args.out, records, cpu, args.quick, names)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
