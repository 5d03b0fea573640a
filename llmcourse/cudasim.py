"""Pick how numba.cuda kernels run: natively on an NVIDIA GPU, or in Numba's CUDA simulator on the CPU.

Numba reads NUMBA_ENABLE_CUDASIM when `numba` is first imported, so the choice must be made before
`numba.cuda` is imported (or numba's configuration reloaded, which `select` does). Call it first:

    from llmcourse import cudasim
    MODE = cudasim.select()          # "native" or "simulator"; prints which and why
    from numba import cuda

The simulator runs every CUDA thread as a Python thread: it checks indexing and synchronisation and
measures nothing about speed. LLMCOURSE_CUDA=simulator or =native forces a choice.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys

SIM_ENV = "NUMBA_ENABLE_CUDASIM"
FORCE_ENV = "LLMCOURSE_CUDA"

_PROBE = """
import numpy as np
from numba import cuda
@cuda.jit
def _one(out):
    out[cuda.grid(1)] = 1.0
d = cuda.device_array(32, dtype=np.float32)
_one[1, 32](d)
assert d.copy_to_host().sum() == 32.0
print(cuda.get_current_device().name.decode() if isinstance(cuda.get_current_device().name, bytes)
      else cuda.get_current_device().name)
"""


def driver_gpu_count() -> int:
    """Number of CUDA devices the NVIDIA driver reports (0 when there is no driver or no device)."""
    for name in ("libcuda.so.1", "libcuda.so", "nvcuda.dll"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        count = ctypes.c_int(0)
        if lib.cuInit(0) != 0 or lib.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return 0
        return count.value
    return 0


def native_works(timeout: float = 120.0) -> tuple[bool, str]:
    """(True, device name) when a tiny numba.cuda kernel compiles and runs natively, in a child process."""
    env = {k: v for k, v in os.environ.items() if k != SIM_ENV}
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"the native probe did not finish ({exc})"
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        return False, f"a GPU is present but numba.cuda cannot compile for it: {last}"
    return True, done.stdout.strip()


def apply(simulate: bool) -> None:
    """Set numba.cuda's mode (simulator or native) for this process, reloading numba's configuration."""
    os.environ[SIM_ENV] = "1" if simulate else "0"
    os.environ.setdefault("NUMBA_CUDA_LOW_OCCUPANCY_WARNINGS", "0")  # tiny teaching grids are not a mistake
    if "numba" in sys.modules:
        from numba.core import config
        if "numba.cuda" in sys.modules and bool(config.ENABLE_CUDASIM) != simulate:
            raise RuntimeError("numba.cuda was imported before llmcourse.cudasim.select() in another mode; "
                               "restart the kernel and call select() before importing numba.cuda")
        config.reload_config()


def decide() -> tuple[str, str]:
    """('native' | 'simulator', why) without changing anything."""
    forced = os.environ.get(FORCE_ENV, "").strip().lower()
    if forced in {"sim", "simulator"}:
        return "simulator", f"{FORCE_ENV}={forced}"
    if os.environ.get(SIM_ENV, "").strip() == "1" and forced != "native":
        return "simulator", f"{SIM_ENV}=1 was already set"
    if driver_gpu_count() == 0:
        if forced == "native":
            raise RuntimeError(f"{FORCE_ENV}=native but the NVIDIA driver reports no GPU")
        return "simulator", "no NVIDIA GPU found (no driver or no device)"
    ok, detail = native_works()
    if ok:
        return "native", f"NVIDIA GPU: {detail}"
    if forced == "native":
        raise RuntimeError(detail)
    return "simulator", detail


def select(verbose: bool = True) -> str:
    """Choose native or simulator before numba.cuda is imported; returns 'native' or 'simulator'."""
    mode, why = decide()
    apply(mode == "simulator")
    if verbose:
        if mode == "native":
            print(f"numba.cuda runs natively ({why}).")
        else:
            print(f"numba.cuda runs in the CUDA simulator on the CPU ({why}): kernels are checked for "
                  "correctness, one Python thread per CUDA thread; nothing here measures GPU speed.")
    return mode
