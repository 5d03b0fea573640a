"""Run-time switches shared by notebooks and tests: the small-size switch and hardware detection."""

from __future__ import annotations

import os
import platform
from pathlib import Path

SMALL_ENV = "LLMCOURSE_SMALL"


def small() -> bool:
    """True when the tests asked notebooks for their small sizes (environment LLMCOURSE_SMALL=1)."""
    return os.environ.get(SMALL_ENV, "").strip().lower() in {"1", "true", "yes"}


def size(default: int, small_value: int) -> int:
    """Pick a problem size: the learner's default, or the small one under the test switch."""
    return small_value if small() else default


def hardware_report() -> dict[str, object]:
    """Describe the CPU and any accelerator torch can see (imports torch lazily)."""
    report: dict[str, object] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
    }
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        report["torch"] = None
        return report
    report["torch"] = torch.__version__
    report["cuda"] = torch.cuda.is_available()
    if report["cuda"]:
        report["cuda_devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    report["mps"] = bool(mps is not None and mps.is_available())
    report["torch_threads"] = torch.get_num_threads()
    return report


# CPU instructions that change what low precision buys, by the names Linux gives them in /proc/cpuinfo.
_FEATURES = {
    "int8 dot product": ("avx512_vnni", "avx_vnni", "amx_int8", "asimddp"),   # x86 VNNI / AMX, ARM sdot
    "bf16 arithmetic": ("avx512_bf16", "amx_bf16", "bf16"),                    # ARM's flag is plain "bf16"
    "fp16 arithmetic": ("avx512_fp16", "asimdhp"),
    "512-bit vectors": ("avx512f",),
}


def cpu_flags(cpuinfo: str | None = None) -> set[str]:
    """The CPU's feature flags (Linux /proc/cpuinfo "flags" or ARM "Features"); empty where unreadable."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            return set()
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"flags", "Features"}:
            return set(value.split())
    return set()


def cpu_features(cpuinfo: str | None = None) -> dict[str, list[str]]:
    """Which low-precision instructions this CPU has: {feature: [flags found]}; an empty list means none.

    >>> cpu_features("flags : fpu avx2 avx512f avx512_vnni")["int8 dot product"]
    ['avx512_vnni']
    """
    flags = cpu_flags(cpuinfo)
    return {feature: [f for f in names if f in flags] for feature, names in _FEATURES.items()}


# Flags that decide which benchmark kernel runs and which speed target applies (see benchmarks/targets.py).
RECORD_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


def cpu_model(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo ("AMD EPYC", ...), else platform.processor() or "unknown"."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in {"model name", "Model", "cpu model"} and value.strip():
            return value.strip()
    return platform.processor() or "unknown"


def cpu_kind(flags: set[str]) -> str:
    """The machine kind a speed target is set for: "avx512" (AVX-512 F and BW), "avx2" (AVX2 and FMA, no
    AVX-512), else "other". The course machines are of the first two kinds."""
    if {"avx512f", "avx512bw"} <= flags:
        return "avx512"
    if {"avx2", "fma"} <= flags:
        return "avx2"
    return "other"


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask), which can be fewer than os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def cpu_record(cpuinfo: str | None = None) -> dict[str, object]:
    """What a benchmark record says about the CPU it ran on: model name, kind, the flags that matter, cores.

    >>> r = cpu_record("model name : AMD EPYC\\nflags : fpu avx2 fma")
    >>> r["kind"], r["flags"]["avx2"], r["flags"]["avx512f"]
    ('avx2', True, False)
    """
    flags = cpu_flags(cpuinfo)
    return {"model": cpu_model(cpuinfo), "kind": cpu_kind(flags), "machine": platform.machine(),
            "flags": {f: f in flags for f in RECORD_FLAGS},
            "cores": os.cpu_count(), "usable_cores": usable_cores()}


def describe_cpu_record(record: dict[str, object]) -> str:
    """One line for a cpu_record: 'AMD EPYC, avx512 kind (avx2 fma avx512f ...), 2 cores'."""
    flags = record.get("flags") or {}
    present = " ".join(f for f, on in flags.items() if on) or "none of the recorded flags"
    return f"{record.get('model')}, {record.get('kind')} kind ({present}), {record.get('cores')} cores"


def describe_cpu_features(cpuinfo: str | None = None) -> str:
    """One line per feature: 'int8 dot product: yes (avx512_vnni)' or 'bf16 arithmetic: no'."""
    if cpuinfo is None and not cpu_flags():
        return "CPU features: unknown on this system (no /proc/cpuinfo)"
    return "\n".join(f"{feature}: {'yes (' + ', '.join(found) + ')' if found else 'no'}"
                     for feature, found in cpu_features(cpuinfo).items())
