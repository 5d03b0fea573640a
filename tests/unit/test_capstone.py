"""The capstone harness (llmcourse.capstone), its visible checks, and the leaderboard reader (autograde)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autograde import leaderboard
from llmcourse import capstone
from llmcourse.checks import CheckFailed
from llmcourse.data import SPLIT_SEEDS, CharTokenizer
from llmcourse.model import CHECKPOINT, from_numpy

CONFIG, PARAMS = capstone.load()
IDS = CharTokenizer().encode("\nthe cat saw a red apple.\nadd 12+34=46\n")[None]


def plain_compress(config, params):
    """Not a compression: the fp32 arrays under their own names (a legal format, 100 % of the bytes)."""
    return {"manifest": capstone.make_manifest(config), **{k: v.copy() for k, v in params.items()}}


def plain_forward(compressed, ids):
    cfg = capstone.read_manifest(compressed)["config"]
    return capstone.fp32_forward(cfg, {k: v for k, v in compressed.items() if k != "manifest"}, ids)


def test_fp32_forward_equals_the_torch_reference():
    ids = np.stack([IDS[0, :20], IDS[0, 5:25]])
    want = from_numpy(CONFIG, PARAMS)(torch.as_tensor(ids)).detach().numpy()
    np.testing.assert_allclose(capstone.fp32_forward(CONFIG, PARAMS, ids), want, rtol=1e-4, atol=1e-4)


def test_fp32_forward_runs_the_given_weights_with_one_torch_thread_and_restores_the_count(monkeypatch):
    seen = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(*args, **kwargs):  # the reference's attention is the library call, run with one thread
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        other = capstone.other_checkpoint(CONFIG, PARAMS)
        frozen = {k: v.copy() for k, v in other.items()}
        for v in frozen.values():
            v.flags.writeable = False  # read-only arrays are accepted (copied, not shared)
        got = capstone.fp32_forward(CONFIG, frozen, IDS)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert seen == [1] * CONFIG["n_layer"]
    assert type(got) is np.ndarray and got.dtype == np.float32
    want = from_numpy(CONFIG, other)(torch.as_tensor(IDS)).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    assert not np.allclose(got, capstone.fp32_forward(CONFIG, PARAMS, IDS), atol=1e-2)


def test_every_byte_is_counted():
    comp = {"manifest": capstone.make_manifest(CONFIG), "w.q": np.zeros((4, 8), np.int8),
            "w.s": np.ones(8, np.float16)}
    expected = comp["manifest"].nbytes + 32 + 16 + len("manifest") + len("w.q") + len("w.s")
    assert capstone.stored_bytes(comp) == expected
    fp32 = capstone.fp32_bytes(CONFIG, PARAMS)
    assert fp32 > 4 * sum(a.size for a in PARAMS.values())  # names and config count too
    assert capstone.stored_bytes(plain_compress(CONFIG, PARAMS)) > fp32 - 100


@pytest.mark.parametrize("bad, words", [
    (type("Lean", (dict,), {})({"manifest": capstone.make_manifest(CONFIG)}), "plain dict"),
    ({"manifest": capstone.make_manifest(CONFIG), "s": [1.0, 2.0]}, "list"),
    ({"manifest": capstone.make_manifest(CONFIG), "s": np.ones(3)}, "float64"),
    ({"manifest": capstone.make_manifest(CONFIG), "s": np.array([object()])}, "object"),
    ({"w": np.ones(3, np.float32)}, "manifest"),
    ({"manifest": np.frombuffer(b'{"format": "other"}', np.uint8)}, "format"),
])
def test_the_format_refuses_what_it_cannot_count(bad, words):
    with pytest.raises(capstone.CapstoneError, match=words):
        capstone.stored_bytes(bad)


def test_heldout_text_is_fresh_and_refuses_the_corpus_seeds():
    a, b = capstone.heldout_text(2000, 5), capstone.heldout_text(2000, 6)
    assert a != b and 2000 <= len(a) < 2200 and a.endswith("\n")
    for seed in SPLIT_SEEDS.values():
        with pytest.raises(ValueError, match="split"):
            capstone.heldout_text(100, seed)


def test_evaluate_matches_the_torch_reference_on_perplexity():
    text = capstone.heldout_text(1500, 11)
    got = capstone.perplexity(lambda ids: capstone.fp32_forward(CONFIG, PARAMS, ids), text, 128)
    model = from_numpy(CONFIG, PARAMS)
    ids = torch.as_tensor(CharTokenizer().encode(text))
    n = (len(ids) - 1) // 128
    with torch.no_grad():
        logits = model(ids[: n * 128].view(n, 128))
    want = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[1: n * 128 + 1]).exp()
    assert got == pytest.approx(float(want), rel=1e-4)


def test_the_honest_fp32_copy_is_self_contained():
    capstone.check_self_contained(plain_compress, plain_forward, CONFIG, PARAMS, IDS)


def test_a_forward_that_caches_fp32_weights_is_caught():
    cache = {}

    def forward(compressed, ids):
        if "p" not in cache:
            cache["p"] = {k: v for k, v in compressed.items() if k != "manifest"}
        return capstone.fp32_forward(CONFIG, cache["p"], ids)

    with pytest.raises(capstone.CapstoneError, match="old model|changed after|do not follow"):
        capstone.check_self_contained(plain_compress, forward, CONFIG, PARAMS, IDS)


def test_a_forward_that_uses_the_fp32_params_is_caught():
    with pytest.raises(capstone.CapstoneError, match="do not follow"):
        capstone.check_self_contained(plain_compress, lambda c, ids: capstone.fp32_forward(CONFIG, PARAMS, ids),
                                      CONFIG, PARAMS, IDS)


def test_opening_the_checkpoint_inside_the_guard_raises():
    with capstone.checkpoint_guard(), pytest.raises(capstone.CapstoneError, match="checkpoint"):
        np.load(CHECKPOINT)
    with np.load(CHECKPOINT) as data:  # outside the guard: allowed
        assert "tok_emb" in data.files


def test_compress_must_not_change_the_checkpoint():
    def compress(config, params):
        params["tok_emb"][0, 0] += 1.0
        return plain_compress(config, params)

    with pytest.raises(capstone.CapstoneError, match="changed the checkpoint"):
        capstone.measure(compress, plain_forward, CONFIG, PARAMS, 3, 500, 2)


def test_speed_pairs_alternate_their_order_and_take_the_median():
    ticks = iter(np.arange(0.0, 1e4, 1.0))
    calls = []

    def forward(c, ids):
        calls.append("m")

    out = capstone.speed_ratio(forward, {}, CONFIG, PARAMS, IDS[:, :8], pairs=4, number=1, clock=lambda: next(ticks))
    assert len(out["ratios"]) == 4 and out["ratio"] == pytest.approx(1.0)
    assert len(calls) == 2 + 4  # two warm-up calls, then one per pair


def test_tiers_and_budget():
    assert capstone.tier(0.14, capstone.BYTE_TIERS, smaller_is_better=True) == 3
    assert capstone.tier(0.283, capstone.BYTE_TIERS, smaller_is_better=True) == 1
    assert capstone.tier(0.6, capstone.SPEED_TIERS, smaller_is_better=False) == 2
    assert capstone.tier(0.3, capstone.SPEED_TIERS, smaller_is_better=False) == 0
    fp32 = {"perplexity": 2.0, "task_mean": 0.9, "tasks": {}}
    assert capstone.budget_problems(fp32, {"perplexity": 2.2, "task_mean": 0.85, "tasks": {}}) == []
    assert len(capstone.budget_problems(fp32, {"perplexity": 2.21, "task_mean": 0.84, "tasks": {}})) == 2


def test_justification_needs_every_number_and_some_words():
    facts = {"bytes": (0.1401, 0.0006), "speed": (0.9, 0.3)}
    words = " ".join(["word"] * 60)
    assert capstone.justification_problems(f"{words} 14.0 % and 0.91x", facts) == []
    assert capstone.justification_problems(f"{words} 0.1402 and 0.91", facts) == []
    assert "bytes" in capstone.justification_problems(f"{words} 12.5 % and 0.91x", facts)[0]
    assert "words" in capstone.justification_problems("14.0 0.9", facts)[0]
    assert capstone.justification_problems(None, facts)


def test_visible_check_names_the_broken_rule():
    with pytest.raises(CheckFailed, match="do not follow"):
        from llmcourse import checks

        checks.capstone.forward(plain_compress, lambda c, ids: capstone.fp32_forward(CONFIG, PARAMS, ids))


def _executed(lines_by_cell: dict[str, list[str]]) -> dict:
    cells = []
    for gid, lines in lines_by_cell.items():
        cells.append({"cell_type": "code", "metadata": {"nbgrader": {"grade_id": gid}},
                      "outputs": [{"output_type": "stream", "name": "stdout", "text": "\n".join(lines) + "\n"}]})
    return {"cells": cells}


def test_leaderboard_reads_only_the_last_tagged_line_of_the_test_cells(tmp_path):
    def line(**kw):
        base = {"bytes": 1000, "bytes_ratio": 0.2, "ppl_ratio": 1.01, "task_mean": 0.9, "fp32_task_mean": 0.91,
                "budget_met": True}
        return f"{leaderboard.TAG} {json.dumps({**base, **kw})}"

    students = {
        "honest": {"compress_test": [line(bytes_ratio=0.2)], "forward_test": [line(speed_ratio=0.8)]},
        "smaller": {"compress_test": [line(bytes_ratio=0.1)], "forward_test": [line(speed_ratio=0.7)]},
        "faker": {"compress": [line(bytes_ratio=0.01)],  # printed in their own cell: ignored
                  "compress_test": [line(bytes_ratio=0.01), line(bytes_ratio=0.5)]},
        "over": {"compress_test": [line(bytes_ratio=0.05, budget_met=False)]},
    }
    records = {}
    for s, cells in students.items():
        path = tmp_path / "autograded" / s / "13_capstone" / "13_capstone.ipynb"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(_executed(cells)))
        records[s] = {"score": 5, "max_score": 11, "notebooks": {"13_capstone.ipynb": {
            "status": "graded", "cells": {"compress_test": {"outcome": "passed" if s != "over" else "failed"}}}}}
    rows = leaderboard.write("13_capstone", tmp_path, records, workers=1)
    by = {r["student"]: r for r in rows}
    assert [r["student"] for r in rows if r["rank"]] == ["smaller", "honest", "faker"]
    assert by["faker"]["bytes_pct"] == pytest.approx(50.0)
    assert by["over"]["status"] == "over budget" and by["over"]["rank"] is None
    assert by["honest"]["speed_ratio"] == pytest.approx(0.8)
    page = (tmp_path / "report.html").read_text()
    assert "one student at a time" in page and "<svg" in page
    assert (tmp_path / "leaderboard.csv").read_text().splitlines()[1].startswith("1,smaller,ranked")


def test_visible_compress_check_passes_an_honest_model_and_names_a_budget_miss(capsys):
    from llmcourse import checks

    result = checks.capstone.compress(plain_compress, plain_forward, 600, 4)
    assert result["ppl_ratio"] == pytest.approx(1.0) and "within the budget" in capsys.readouterr().out

    def noisy_forward(compressed, ids):
        return plain_forward(compressed, ids) * np.float32(0.2)  # flattened logits: perplexity far up

    with pytest.raises(CheckFailed, match="over the budget"):
        checks.capstone.compress(plain_compress, noisy_forward, 600, 4)


def test_visible_justification_check():
    from llmcourse import checks

    result = {"bytes_ratio": 0.14, "ppl_ratio": 1.002, "model": {"perplexity": 1.6821, "task_mean": 0.957}}
    words = " ".join(["because"] * 60)
    checks.capstone.justification(f"{words} 14.0 % 1.6821 1.002 95.7 % 0.85x", result, 0.86)
    with pytest.raises(CheckFailed, match="perplexity"):
        checks.capstone.justification(f"{words} 14.0 % 1.6500 1.002 95.7 % 0.85x", result, 0.86)


def test_the_grader_reads_the_tag_the_harness_prints():  # two constants: the grader never imports torch
    assert leaderboard.TAG == capstone.LEADERBOARD_TAG
