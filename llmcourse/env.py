"""Run-time switches shared by notebooks and tests: the small-size switch and hardware detection."""

from __future__ import annotations

import os
import platform

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
