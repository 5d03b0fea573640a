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


def test_cpu_features_from_cpuinfo_text():
    zen3 = "processor : 0\nflags : fpu sse2 avx avx2 fma\n"
    zen4 = "processor : 0\nflags : fpu avx2 avx512f avx512_vnni avx512_bf16\n"
    graviton = "processor : 0\nFeatures : fp asimd asimdhp asimddp bf16 i8mm\n"
    assert env.cpu_features(zen3) == {k: [] for k in env.cpu_features(zen3)}
    z4 = env.cpu_features(zen4)
    assert z4["int8 dot product"] == ["avx512_vnni"] and z4["bf16 arithmetic"] == ["avx512_bf16"]
    assert z4["fp16 arithmetic"] == [] and z4["512-bit vectors"] == ["avx512f"]
    arm = env.cpu_features(graviton)
    assert arm["int8 dot product"] == ["asimddp"] and arm["bf16 arithmetic"] == ["bf16"]
    assert arm["fp16 arithmetic"] == ["asimdhp"]
    text = env.describe_cpu_features(zen4)
    assert "int8 dot product: yes (avx512_vnni)" in text and "fp16 arithmetic: no" in text
    assert env.cpu_flags("no flags here") == set()


def test_cpu_features_of_this_machine_is_a_report():
    got = env.cpu_features()
    assert set(got) == {"int8 dot product", "bf16 arithmetic", "fp16 arithmetic", "512-bit vectors"}
    assert all(isinstance(v, list) for v in got.values())
    assert env.describe_cpu_features().count("\n") in (0, 3)
