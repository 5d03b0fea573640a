"""Entry point of a grading kernel: set resource limits, route warnings to stdout, start ipykernel.

Runs inside the sandbox (or, without one, as a plain child process), so it imports nothing from this
repository. Usage (the grader builds this line):

    python kernel_boot.py '{"data": 2147483648, "fsize": 67108864, ...}' -f /run/grader/kernel.json
"""

from __future__ import annotations

import json
import os
import resource
import sys
import warnings

WARNING_PREFIX = "[grader] warning: "

_LIMITS = {
    "data": resource.RLIMIT_DATA,
    "fsize": resource.RLIMIT_FSIZE,
    "nofile": resource.RLIMIT_NOFILE,
    "nproc": resource.RLIMIT_NPROC,
    "cpu": resource.RLIMIT_CPU,
    "core": resource.RLIMIT_CORE,
}


def apply_limits(limits: dict[str, int]) -> None:
    """Lower the soft and hard resource limits of this process (inherited by everything it starts)."""
    for name, value in limits.items():
        which = _LIMITS[name]
        _, hard = resource.getrlimit(which)
        value = int(value)
        if hard != resource.RLIM_INFINITY:
            value = min(value, hard)
        # CPU: leave the hard limit a little higher so the kernel gets SIGXCPU before SIGKILL.
        new_hard = value + 5 if name == "cpu" and (hard == resource.RLIM_INFINITY or value + 5 <= hard) else value
        resource.setrlimit(which, (value, new_hard))


def _show_warning_on_stdout(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                            file: object = None, line: str | None = None) -> None:
    """warnings.showwarning replacement: one line on stdout, so a warning never scores a test cell 0."""
    text = f"{WARNING_PREFIX}{category.__name__}: {message} ({os.path.basename(str(filename))}:{lineno})\n"
    try:
        sys.stdout.write(text)
    except Exception:  # noqa: BLE001 - a closed stdout must not turn a warning into an error
        pass


def main() -> None:
    """Apply the limits in argv[1], then run ipykernel with the remaining arguments."""
    limits = json.loads(sys.argv[1])
    apply_limits(limits)
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    os.environ.pop("JPY_PARENT_PID", None)
    warnings.showwarning = _show_warning_on_stdout
    sys.argv = [sys.argv[0], *sys.argv[2:]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
