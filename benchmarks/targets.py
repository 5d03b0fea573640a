"""The speed targets of `make bench`, per kind of CPU, and their verdict on a run's records.

The course machines are of two kinds (llmcourse.env.cpu_kind): "avx512" (AVX-512 with VNNI and BF16) and
"avx2" (AVX2 + FMA only). A target is a property of a record measured in the same run (a ratio against a
baseline timed beside it, an error against a prediction made from this run's measurements), never an
absolute time. Each record named here gains two fields:

    target       what it must reach on this kind, in words ("ratio >= 3.0x and >= torch fbgemm in the same run")
    target_met   True or False; None where no target is set for this kind of CPU

The verdict reads the record's headline figure, which `python -m benchmarks` makes the median over several
runs (`<field>_runs` keeps each run's figure); the spread is reported beside it, never used to pass.
This module imports neither NumPy nor torch, so that the runner and the tests can load it cheaply.
"""

from __future__ import annotations

from typing import Any

KINDS = ("avx512", "avx2")

# name -> (field, "min" or "max" or "abs_max", threshold per kind, extra text); "*" applies to every kind.
TARGETS: dict[str, dict[str, Any]] = {
    "int8_gemv_4096": {"field": "ratio", "min": {"avx512": 3.0, "avx2": 2.6}, "vs_torch": True,
                       "what": "speed-up over numpy fp32, cold weights"},
    "int8_gemv_11008x4096": {"field": "ratio", "min": {"avx512": 3.0, "avx2": 2.6}, "vs_torch": True,
                             "what": "speed-up over numpy fp32, cold weights"},
    "int4_gemv_4096": {"field": "ratio", "min": {"*": 2.5}, "what": "speed-up over numpy fp32, cold weights"},
    # issue 14's speed lesson (module 09): sparse GEMV at 4096 x 4096, cold weights, the same on both kinds
    "csr_matvec_4096_s90": {"field": "ratio", "min": {"*": 3.5},
                            "what": "CSR (int32 indices) at 90% sparsity, speed-up over numpy fp32, cold weights"},
    "sparse24_matvec_4096": {"field": "ratio", "min": {"*": 1.4},
                             "what": "2:4 with fp32 values, speed-up over numpy fp32, cold weights"},
    "sparse24_int8_matvec_4096": {"field": "ratio", "min": {"*": 4.0},
                                  "what": "2:4 with int8 values, speed-up over numpy fp32, cold weights"},
    "cost_model_decode_error_pct": {"field": "value", "abs_max": {"*": 30.0},
                                    "what": "error of the predicted decode step"},
    "cost_model_decode_error_pct_1thread": {"field": "value", "abs_max": {"*": 30.0},
                                            "what": "error of the predicted decode step, one-thread BLAS"},
    "kv_cache_speedup_1024": {"field": "value", "min": {"*": 15.0}, "what": "speed-up of the KV cache"},
    "grading_overhead_ratio": {"field": "value", "max": {"*": 1.2}, "what": "grading time over stock nbgrader"},
    "ring_allreduce_4r_16MB": {"field": "ratio", "min": {"*": 0.8}, "what": "send/recv ring over gloo all_reduce"},
    "comm_model_error_pct": {"field": "value", "abs_max": {"*": 30.0}, "what": "alpha-beta prediction of the ring"},
}


def _threshold(table: dict[str, float], kind: str) -> float | None:
    return table.get(kind, table.get("*"))


def evaluate(record: dict[str, Any], kind: str, quick: bool = False) -> dict[str, Any]:
    """Add `target` and `target_met` to a record that has a target; return the record (changed in place).

    A --quick run (tiny sizes, for the plumbing) states the target but does not judge it (target_met None), and
    neither does a run whose Numba code was built for another kind (`code_path`, e.g. the AVX2 path inspected on an
    AVX-512 machine: its instructions are the other kind's, its memory system is this machine's)."""
    spec = TARGETS.get(record.get("name", ""))
    if spec is None:
        return record
    figure = record.get(spec["field"])
    parts, met = [], []
    for how, sign in (("min", ">="), ("max", "<="), ("abs_max", "|x| <=")):
        if how not in spec:
            continue
        limit = _threshold(spec[how], kind)
        if limit is None:
            continue
        parts.append(f"{spec['field']} {sign} {limit:g}")
        if figure is not None:
            met.append(figure >= limit if how == "min" else (figure <= limit if how == "max" else abs(figure) <= limit))
    if spec.get("vs_torch") and parts:
        parts.append("vs_torch_fbgemm >= 1 (at least torch's fbgemm int8 in the same rounds)")
        vs = record.get("vs_torch_fbgemm")
        met.append(vs >= 1.0 if vs is not None else False)
    if not parts:
        record["target"] = f"none set for the {kind!r} kind of CPU (targets exist for {', '.join(KINDS)})"
        record["target_met"] = None
        return record
    record["target"] = f"{spec['what']}: " + " and ".join(parts) + f" ({kind} kind)"
    record["target_met"] = bool(met) and all(met)
    code = record.get("code_path")
    if quick or (code is not None and code != kind):
        record["target_met"] = None
        record["target"] += (" (--quick sizes)" if quick else
                             f" (code built for the {code} kind on this {kind} machine: an inspection run)")
    return record


def evaluate_all(records: list[dict[str, Any]], kind: str, quick: bool = False) -> list[dict[str, Any]]:
    """evaluate() every record; returns the list."""
    for r in records:
        evaluate(r, kind, quick)
    return records
