"""Run every benchmark module and write bench-results.json at the repository root.

    python -m benchmarks            # all benchmarks
    python -m benchmarks grading    # only benchmarks/bench_grading.py
    python -m benchmarks lowrank    # module 10's records: low-rank GEMV, randomized SVD, linear attention
    python -m benchmarks --quick    # smaller sizes (used by the tests to check the plumbing)

Each module runs in a fresh Python process, so that the thread pools, caches and allocations one leaves
behind (torch's OpenMP threads after the KV-cache run, gigabytes of freed copies) cannot slow the next.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIELDS = ("name", "value", "unit", "baseline", "ratio", "limit", "pct_of_limit")


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


def run_isolated(name: str, quick: bool) -> list[dict]:
    """benchmarks/bench_<name>.py's run(quick) in a child Python process; its records."""
    if not (Path(__file__).parent / f"bench_{name}.py").is_file():
        raise SystemExit(f"no benchmark module benchmarks/bench_{name}.py")
    code = (f"import json; from benchmarks import bench_{name} as m; "
            f"print('@@records ' + json.dumps(m.run(quick={quick})))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode:
        raise SystemExit(f"benchmark {name} failed (exit {done.returncode}); its errors are above")
    lines = [line for line in done.stdout.splitlines() if line.startswith("@@records ")]
    if not lines:
        raise SystemExit(f"benchmark {name} printed no records")
    return json.loads(lines[-1].removeprefix("@@records "))


def main(argv: list[str] | None = None) -> int:
    """Run the selected benchmark modules and write the JSON file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="benchmark module names (bench_<name>.py)")
    parser.add_argument("--quick", action="store_true", help="small sizes, for checking the plumbing")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results.json")
    args = parser.parse_args(argv)
    names = args.only or sorted(p.stem.removeprefix("bench_") for p in Path(__file__).parent.glob("bench_*.py"))
    records = []
    for name in names:
        start = time.perf_counter()
        got = [validate(r) for r in run_isolated(name, args.quick)]
        print(f"[{name}] {len(got)} record(s) in {time.perf_counter() - start:.1f} s")
        for r in got:
            ratio = f"  ratio {r['ratio']:.2f}x vs {r['baseline']}" if r["ratio"] is not None else ""
            pct = f"  {r['pct_of_limit']:.0f}% of limit" if r["pct_of_limit"] is not None else ""
            print(f"  {r['name']}: {r['value']:.4g} {r['unit']}{ratio}{pct}")
        records += got
    args.out.write_text(json.dumps(records, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
