"""The small-size switch and hardware report."""

from __future__ import annotations

from llmcourse import env


def test_small_switch(monkeypatch):
    monkeypatch.delenv(env.SMALL_ENV, raising=False)
    assert not env.small() and env.size(1000, 10) == 1000
    monkeypatch.setenv(env.SMALL_ENV, "1")
    assert env.small() and env.size(1000, 10) == 10
    monkeypatch.setenv(env.SMALL_ENV, "0")
    assert not env.small()


def test_hardware_report_names_torch_and_devices():
    report = env.hardware_report()
    assert report["torch"].startswith("2.13.0")
    assert isinstance(report["cuda"], bool) and isinstance(report["mps"], bool)
    assert report["cpu_count"] >= 1
