"""The launcher of module 12: real gloo process groups, results in rank order, clear errors, nothing left running."""

from __future__ import annotations

import linecache
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
import torch.distributed as dist

from llmcourse import dist as launch

REPO = Path(__file__).resolve().parents[2]


def rank_and_sum(rank: int, world_size: int, scale: float = 1.0) -> tuple[int, int, float, int]:
    t = torch.tensor([float(rank + 1)])
    dist.all_reduce(t)
    return rank, world_size, t.item() * scale, torch.get_num_threads()


def gone(pid: int) -> bool:
    """True when pid no longer runs (absent, or a zombie waiting to be reaped)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


def notebook_function(source: str, name: str, **namespace) -> object:
    """Define a function the way IPython does: module __main__, source only in linecache."""
    source = textwrap.dedent(source)
    filename = f"/tmp/ipykernel_test/{name}-{time.monotonic_ns()}.py"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = {"__name__": "__main__", "torch": torch, "dist": dist, **namespace}
    exec(compile(source, filename, "exec"), ns)
    return ns[name]


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
def test_results_come_back_in_rank_order_from_real_collectives(world_size):
    out = launch.run(rank_and_sum, world_size, scale=2.0, timeout=60)
    total = world_size * (world_size + 1) / 2
    assert out == [(r, world_size, 2 * total, 1) for r in range(world_size)]  # one torch thread per rank


def test_notebook_functions_travel_by_source_with_their_helpers_and_globals():
    helper = notebook_function("""
        def double_then_sum(t):
            t = t * FACTOR
            dist.all_reduce(t)
            return t
        """, "double_then_sum", FACTOR=3)
    main = notebook_function("""
        def worker(rank, world_size, base):
            return double_then_sum(base + rank).tolist()
        """, "worker", double_then_sum=helper)
    out = launch.run(main, 3, torch.ones(2), timeout=60)
    assert out == [[18.0, 18.0]] * 3  # 3 * (1 + 2 + 3)
    # a notebook function passed as an argument travels too
    takes_fn = notebook_function("""
        def call(rank, world_size, f):
            return f(torch.tensor([1.0])).item()
        """, "call")
    assert launch.run(takes_fn, 2, helper, timeout=60) == [6.0, 6.0]  # 3 * 1 summed over 2 ranks


def test_a_crashed_rank_is_named_with_its_traceback_and_the_others_are_killed(tmp_path):
    fn = notebook_function("""
        import os, time
        def crash(rank, world_size, folder):
            (folder / f"{rank}.pid").write_text(str(os.getpid()))
            if rank == 1:
                raise ValueError("rank one is broken")
            t = torch.zeros(4)
            dist.all_reduce(t)
            return 0
        """, "crash")
    start = time.monotonic()
    with pytest.raises(launch.DistError) as err:
        launch.run(fn, 3, tmp_path, timeout=60)
    assert time.monotonic() - start < 30, "a crash must not wait for the timeout"
    message = str(err.value)
    assert "rank 1 raised" in message and "ValueError: rank one is broken" in message, message
    assert "crash" in message and 'raise ValueError("rank one is broken")' in message, "the learner's line"
    assert message.index("rank 1") < message.index("rank 0"), "the first failure comes first"
    assert 1 in err.value.failed and not isinstance(err.value, launch.DistTimeout)
    pids = [int((tmp_path / f"{r}.pid").read_text()) for r in range(3)]
    assert all(gone(p) for p in pids), "workers left running"


def test_a_deadlock_times_out_naming_each_rank_and_the_recv_it_waits_in(tmp_path):
    fn = notebook_function("""
        import os
        def both_receive_first(rank, world_size, folder):
            (folder / f"{rank}.pid").write_text(str(os.getpid()))
            t = torch.zeros(5)
            dist.recv(t, src=1 - rank)
            dist.send(t, dst=1 - rank)
            return t
        """, "both_receive_first")
    start = time.monotonic()
    with pytest.raises(launch.DistTimeout) as err:
        launch.run(fn, 2, tmp_path, timeout=3)
    assert time.monotonic() - start < 20
    message = str(err.value)
    assert "timed out after 3 s" in message
    for r in (0, 1):
        assert f"rank {r} did not finish: waiting in call #1 dist.recv(tensor(5,) float32, src={1 - r})" in message
    assert "both_receive_first line 6" in message, message
    assert set(err.value.stuck) == {0, 1}
    assert all(gone(int((tmp_path / f"{r}.pid").read_text())) for r in (0, 1))


def test_a_rank_stuck_outside_torch_is_killed_at_the_timeout(tmp_path):
    fn = notebook_function("""
        import os, time
        def sleepy(rank, world_size, folder):
            (folder / f"{rank}.pid").write_text(str(os.getpid()))
            t = torch.ones(2)
            dist.all_reduce(t)
            if rank == 2:
                while True:
                    time.sleep(0.05)
            return t.sum().item()
        """, "sleepy")
    with pytest.raises(launch.DistTimeout) as err:
        launch.run(fn, 3, tmp_path, timeout=3)
    message = str(err.value)
    assert "rank 2 did not finish: last finished call #1 dist.all_reduce" in message, message
    assert "ranks that finished: [0, 1]" in message
    assert all(gone(int((tmp_path / f"{r}.pid").read_text())) for r in range(3))


def test_a_rank_whose_process_dies_is_named():
    fn = notebook_function("""
        import os
        def dies(rank, world_size):
            if rank == 0:
                os._exit(3)
            dist.barrier()
            return rank
        """, "dies")
    with pytest.raises(launch.DistError) as err:
        launch.run(fn, 2, timeout=60)
    assert "rank 0 did not finish (its process died, exit code 3)" in str(err.value), str(err.value)


def test_prints_come_back_prefixed_and_bad_world_sizes_are_refused(capsys):
    fn = notebook_function("""
        def talk(rank, world_size):
            print("hello", rank)
            return None
        """, "talk")
    launch.run(fn, 2, timeout=60)
    assert capsys.readouterr().out.splitlines() == ["[rank 0] hello 0", "[rank 1] hello 1"]
    with pytest.raises(ValueError):
        launch.run(fn, 0)
    closure_maker = notebook_function("""
        def outer():
            x = 1
            def inner(rank, world_size):
                return x
            return inner
        """, "outer")
    with pytest.raises(launch.DistError, match="closure"):
        launch.run(closure_maker(), 2)


@pytest.mark.slow
def test_the_same_function_runs_under_torchrun(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent("""
        import os
        import sys

        import torch
        import torch.distributed as dist
        from llmcourse import dist as launch

        def rank_sum(rank, world_size):
            t = torch.tensor([float(rank + 1)])
            dist.all_reduce(t)
            return t.item()

        if __name__ == "__main__":
            value = launch.main(rank_sum)
            with open(sys.argv[1] + f"/{os.environ['RANK']}.out", "w") as fh:
                fh.write(str(value))
        """))
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GLOO_SOCKET_IFNAME": "lo" if sys.platform != "darwin" else "lo0"}
    done = subprocess.run([str(torchrun), "--standalone", "--nproc-per-node", "2", str(script), str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert [(tmp_path / f"{r}.out").read_text() for r in (0, 1)] == ["3.0", "3.0"]


def test_shutdown_stops_the_helpers_and_a_later_run_starts_them_again():
    from multiprocessing import forkserver

    assert launch.run(rank_and_sum, 2, timeout=60)[1][2] == 3.0
    pid = forkserver._forkserver._forkserver_pid
    assert pid is not None
    launch.shutdown()
    assert forkserver._forkserver._forkserver_pid is None and gone(pid)
    assert launch.run(rank_and_sum, 2, timeout=60)[0][2] == 3.0
