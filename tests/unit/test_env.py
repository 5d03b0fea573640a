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


ZEN3 = "processor : 0\nmodel name : AMD EPYC 7B13\nflags : fpu sse2 avx avx2 fma\n"
ZEN5 = "processor : 0\nmodel name : AMD EPYC\nflags : fpu avx2 fma avx512f avx512bw avx512_vnni avx512_bf16\n"


def test_cpu_kind_from_flags():
    assert env.cpu_kind({"avx2", "fma", "avx512f", "avx512bw"}) == "avx512"
    assert env.cpu_kind({"avx2", "fma"}) == "avx2"
    assert env.cpu_kind({"avx2", "fma", "avx512f"}) == "avx2"  # AVX-512 F without BW: not the course's kind
    assert env.cpu_kind({"avx"}) == "other" and env.cpu_kind(set()) == "other"


def test_cpu_record_names_model_kind_flags_and_cores():
    z3 = env.cpu_record(ZEN3)
    assert z3["model"] == "AMD EPYC 7B13" and z3["kind"] == "avx2"
    assert z3["flags"]["avx2"] and z3["flags"]["fma"]
    assert not z3["flags"]["avx512f"] and not z3["flags"]["avx512_vnni"] and not z3["flags"]["avx512_bf16"]
    z5 = env.cpu_record(ZEN5)
    assert z5["kind"] == "avx512" and z5["flags"]["avx512_vnni"] and z5["flags"]["avx512_bf16"]
    assert set(z5["flags"]) == set(env.RECORD_FLAGS)
    assert z5["cores"] >= 1 and 1 <= z5["usable_cores"] <= z5["cores"]
    text = env.describe_cpu_record(z3)
    assert "AMD EPYC 7B13" in text and "avx2 kind" in text and "avx512f" not in text


def test_cpu_record_of_this_machine():
    r = env.cpu_record()
    assert r["kind"] in {"avx512", "avx2", "other"} and isinstance(r["model"], str) and r["model"]
    assert all(isinstance(v, bool) for v in r["flags"].values())
    # no model line (e.g. an unusual /proc/cpuinfo): platform's answer, else "unknown", never empty
    assert env.cpu_model("flags : avx2") == (env.platform.processor() or "unknown")
