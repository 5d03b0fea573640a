"""The quiz engine and the question banks: schema, answer keys recomputed by code, grading, progress, widgets.

No test here writes outside pytest's temporary folders: an autouse fixture points LLMCOURSE_PROGRESS there.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from autograde import build
from autograde.settings import REPO, SOURCE_DIR
from llmcourse import quiz

# ------------------------------------------------------------------------------------------------------------
# Formulas that recompute the numeric answer keys. Each is written from the definition, independently of the
# bank text; a question names one in its "compute" field, e.g. {"fn": "kv_cache_bytes", "args": {...}}.
# ------------------------------------------------------------------------------------------------------------


def _kv_cache_bytes(n_layer, batch, seq_len, n_kv_head, d_head, bytes_per_value):
    keys = n_layer * batch * seq_len * n_kv_head * d_head
    return 2 * keys * bytes_per_value  # keys and values


def _attn_params(d_model, n_head, n_kv_head):
    d_head = d_model // n_head
    return d_model * d_model * 2 + 2 * d_model * n_kv_head * d_head  # Wq, Wo; Wk, Wv


def _ffn_params(d_model, d_ff):
    return d_model * d_ff + d_ff * d_model


def _zero_bytes_per_rank(n_params, n_ranks, stage):
    weights, grads, optim = 2 * n_params, 2 * n_params, 12 * n_params
    sharded = {0: 0, 1: optim, 2: optim + grads, 3: optim + grads + weights}[stage]
    return weights + grads + optim - sharded + sharded / n_ranks


def _csr_bytes(n_rows, n_cols, sparsity, value_bytes, index_bytes):
    nnz = round(n_rows * n_cols * (1 - sparsity))
    return nnz * (value_bytes + index_bytes) + (n_rows + 1) * index_bytes


def _svd_tail_error(singular_values, rank):
    """Build a matrix with these singular values, truncate it with NumPy's SVD, measure the Frobenius error."""
    s = np.asarray(singular_values, dtype=np.float64)
    rng = np.random.default_rng(0)
    u, _ = np.linalg.qr(rng.normal(size=(len(s) + 3, len(s))))
    v, _ = np.linalg.qr(rng.normal(size=(len(s), len(s))))
    w = (u * s) @ v.T
    uu, ss, vt = np.linalg.svd(w, full_matrices=False)
    return float(np.linalg.norm(w - (uu[:, :rank] * ss[:rank]) @ vt[:rank]))


def _float_spacing(value, mantissa_bits):
    return 2.0 ** (math.floor(math.log2(value)) - mantissa_bits)


def _memory_bound_seconds(n_params, bytes_per_param, bandwidth):
    return n_params * bytes_per_param / bandwidth


FORMULAS = {
    "exp": lambda x: math.exp(x),
    "pow": lambda base, exponent: base**exponent,
    "decode_flops": lambda n_params, flops_per_mac=2: flops_per_mac * n_params,  # a multiply-add is 2 FLOPs
    "train_flops": lambda n_params, n_tokens: 6 * n_params * n_tokens,
    "embedding_params": lambda vocab, d_model, tied: vocab * d_model * (1 if tied else 2),
    "decoder_layer_params": lambda d_model, d_ff: 4 * d_model * d_model + _ffn_params(d_model, d_ff),
    "ffn_params": _ffn_params,
    "attn_params": _attn_params,
    "attention_scores_bytes": lambda batch, n_head, seq_len, bytes_per_value: (
        batch * n_head * seq_len * seq_len * bytes_per_value),
    "kv_cache_bytes": _kv_cache_bytes,
    "causal_pairs": lambda seq_len: int(np.tril(np.ones((seq_len, seq_len), dtype=bool)).sum()),
    "ridge_batch": lambda peak_flops, bandwidth, bytes_per_param, flops_per_param=2: (
        peak_flops / bandwidth * bytes_per_param / flops_per_param),
    "memory_bound_seconds": _memory_bound_seconds,
    "tokens_per_second_memory_bound": lambda n_params, bytes_per_param, bandwidth: (
        1 / _memory_bound_seconds(n_params, bytes_per_param, bandwidth)),
    "allreduce_bytes_per_rank": lambda n_bytes, n_ranks: 2 * (n_ranks - 1) / n_ranks * n_bytes,
    "zero_bytes_per_rank": _zero_bytes_per_rank,
    "bubble_fraction": lambda stages, micro_batches: (stages - 1) / (micro_batches + stages - 1),
    "absmax_scale": lambda absmax, bits, qmax=None: absmax / (2 ** (bits - 1) - 1 if qmax is None else qmax),
    "grouped_weight_bytes": lambda n_params, bits, group_size, scale_bits: (
        n_params * bits / 8 + n_params / group_size * scale_bits / 8),
    "db_per_bit": lambda: 10 * math.log10(4),  # one bit halves the noise amplitude: a quarter of the power
    "csr_bytes": _csr_bytes,
    "sparse24_bytes": lambda n_rows, n_cols, value_bytes, meta_bits_per_group: (
        n_rows * n_cols // 2 * value_bytes + n_rows * n_cols // 4 * meta_bits_per_group / 8),
    "csr_break_even_sparsity": lambda dense_bytes, value_bytes, index_bytes: (
        1 - dense_bytes / (value_bytes + index_bytes)),
    "shared_layer_params": lambda n_layer, layer_params, n_unique: min(n_unique, n_layer) * layer_params,
    "svd_tail_error": _svd_tail_error,
    "lowrank_params": lambda m, n, rank: m * rank + rank * n,
    "break_even_rank": lambda m, n: m * n / (m + n),
    "lora_params": lambda d_in, d_out, rank, n_matrices: n_matrices * (rank * d_in + d_out * rank),
    "break_even_rank_int": lambda m, n: max(r for r in range(min(m, n) + 1) if r * (m + n) < m * n),
    "energy_fraction": lambda singular_values, rank: (
        sum(s * s for s in singular_values[:rank]) / sum(s * s for s in singular_values)),
    "energy_fraction_dropped": lambda singular_values, rank: (
        sum(s * s for s in singular_values[rank:]) / sum(s * s for s in singular_values)),
    "singular_value_fraction": lambda singular_values, rank: sum(singular_values[:rank]) / sum(singular_values),
    "lora_scale": lambda alpha, rank: alpha / rank,
    "fp16_max": lambda: float(np.finfo(np.float16).max),
    "float_spacing": _float_spacing,
    "adam_mixed_bytes": lambda n_params: (2 + 2 + 4 + 4 + 4) * n_params,
    "transfer_seconds": lambda n_bytes, bandwidth: n_bytes / bandwidth,
    "amdahl_speedup": lambda parallel_fraction, speedup: 1 / ((1 - parallel_fraction) + parallel_fraction / speedup),
    "shared_model_params": lambda total, n_layer, layer_params: total - (n_layer - 1) * layer_params,
    "spec_accepted_per_round": lambda accept_rate, k: sum(accept_rate**i for i in range(1, k + 1)),
    "spec_tokens_per_round": lambda accept_rate, k: 1 + sum(accept_rate**i for i in range(1, k + 1)),
    "spec_tokens_linear": lambda accept_rate, k: k * accept_rate + 1,
    "spec_speedup": lambda accept_rate, k, cost_ratio: (
        (1 + sum(accept_rate**i for i in range(1, k + 1))) / (k * cost_ratio + 1)),
    # the mistakes that traps name, and small pieces to build them from (a spec's args may be specs)
    "identity": lambda x: x,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "sub": lambda a, b: a - b,
    "min": lambda a, b: min(a, b),
    "sum": lambda values: sum(values),
    "db_power": lambda ratio: 10 * math.log10(ratio),
    "db_amplitude": lambda ratio: 20 * math.log10(ratio),
    "naive_allreduce_bytes_per_rank": lambda n_bytes, n_ranks: (n_ranks - 1) * n_bytes,
    "reduce_scatter_bytes_per_rank": lambda n_bytes, n_ranks: (n_ranks - 1) / n_ranks * n_bytes,
    "bubble_over_useful": lambda stages, micro_batches: (stages - 1) / micro_batches,
    "spectral_tail_error": lambda singular_values, rank: sorted(singular_values, reverse=True)[rank],
}


def _evaluate(spec: dict) -> float:
    """A spec's formula applied to its args; an arg that is itself a spec is evaluated first."""
    args = {k: _evaluate(v) if isinstance(v, dict) else v for k, v in spec.get("args", {}).items()}
    return float(FORMULAS[spec["fn"]](**args))


def _formula_names(spec: dict) -> set[str]:
    return {spec["fn"]}.union(*(_formula_names(v) for v in spec.get("args", {}).values() if isinstance(v, dict)))


def recompute(spec: dict, unit: str) -> float:
    """Evaluate a compute spec and convert its result to the question's unit."""
    value = _evaluate(spec)
    return value * quiz._unit_factor(spec.get("unit", ""), unit) if spec.get("unit") else value


# ------------------------------------------------------------------------------------------------------------
# Fixtures: progress and banks in temporary folders
# ------------------------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """Progress goes to a temporary file, the learner is fixed and quizzes print text."""
    monkeypatch.setenv(quiz.PROGRESS_ENV, str(tmp_path / "state" / "progress.json"))
    monkeypatch.setenv(quiz.LEARNER_ENV, "test-learner")
    monkeypatch.setenv(quiz.MODE_ENV, "text")


@pytest.fixture
def bank_dir(tmp_path, monkeypatch):
    folder = tmp_path / "banks"
    (folder / "topics").mkdir(parents=True)
    monkeypatch.setattr(quiz, "BANK_DIR", folder)
    quiz.load_bank.cache_clear()
    quiz.load_topic.cache_clear()
    yield folder
    quiz.load_bank.cache_clear()
    quiz.load_topic.cache_clear()


GOOD = {
    "module": "99_demo",
    "questions": [
        {"id": "q1", "type": "single", "prompt": "Pick b", "tags": ["t"], "options": [
            {"text": "a", "why": "tempting but wrong"},
            {"text": "b", "correct": True, "why": "right because"},
            {"text": "c", "why": "also wrong"}]},
        {"id": "q2", "type": "numeric", "prompt": "2+2?", "answer": 4, "rel_tol": 0.01, "unit": "apples",
         "why": "count them", "tags": ["t"], "traps": [{"value": 22, "why": "wrote the digits side by side"}]},
        {"id": "q3", "type": "multiple", "prompt": "Pick a and c", "tags": ["t"], "options": [
            {"text": "a", "correct": True, "why": "yes a"}, {"text": "b", "why": "no b"},
            {"text": "c", "correct": True, "why": "yes c"}]},
        {"id": "q4", "type": "bug", "prompt": "Which line?", "tags": ["t"], "lines": [
            {"code": "x = 1", "why": "fine one"},
            {"code": "y = x +* 2", "bug": True, "why": "syntax", "fix": "y = x * 2"},
            {"code": "print(y)", "why": "fine three"}]},
        {"id": "q5", "type": "estimate", "prompt": "KV bytes?", "answer": 2.0e9, "unit": "bytes", "factor": 1.25,
         "why": "2 GB of cache", "tags": ["t"], "traps": [{"value": 1.0e9, "why": "forgot values"}]},
    ],
}

TOPIC = {"topic": "self_attention", "module": "01_attention", "questions": [
    {"id": "tq1", "type": "single", "prompt": "Scale?", "prompt_zh": "缩放？", "tags": ["scaling"], "options": [
        {"text": "1/sqrt(d_k)", "text_zh": "1/sqrt(d_k)", "correct": True, "why": "variance", "why_zh": "方差"},
        {"text": "1/d_k", "text_zh": "1/d_k", "why": "too small", "why_zh": "太小"}]},
    {"id": "tq2", "type": "single", "prompt": "Heads?", "module": "02_multihead", "tags": ["x"], "options": [
        {"text": "features", "correct": True, "why": "yes"}, {"text": "sequence", "why": "popular wrong answer"}]},
]}


def write(bank_dir: Path, content: dict, name: str = "99_demo") -> None:
    (bank_dir / f"{name}.json").write_text(json.dumps(content), encoding="utf-8")


def walk(widget):
    """Every widget under (and including) this one."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


# ------------------------------------------------------------------------------------------------------------
# Grading and feedback
# ------------------------------------------------------------------------------------------------------------


def test_single_choice_explains_every_option(bank_dir):
    write(bank_dir, GOOD)
    q1 = quiz.load_bank("99_demo")[0]
    ok, text = q1.grade(1)
    assert ok and text.startswith("Correct.")
    assert all(why in text for why in ("tempting but wrong", "right because", "also wrong"))
    ok, text = q1.grade(0)
    assert not ok and "✘ a   ← your answer" in text and "right because" in text
    assert not q1.grade(7)[0]


def test_multiple_needs_exactly_the_right_set(bank_dir):
    write(bank_dir, GOOD)
    q3 = quiz.load_bank("99_demo")[2]
    assert q3.grade({0, 2})[0] and q3.grade([2, 0])[0]
    assert not q3.grade({0})[0] and not q3.grade({0, 1, 2})[0]
    assert "no b" in q3.grade({0})[1]


def test_numeric_tolerance_units_and_traps(bank_dir):
    write(bank_dir, GOOD)
    q2 = quiz.load_bank("99_demo")[1]
    assert q2.grade("4.01")[0] and q2.grade(4)[0] and q2.grade("2+2")[0] and q2.grade(np.float32(4.0))[0]
    assert not q2.grade(5)[0] and not q2.grade("four")[0] and not q2.grade("")[0]
    assert "4 apples" in q2.grade(5)[1]
    ok, text = q2.grade(22)
    assert not ok and "wrote the digits side by side" in text
    assert "side by side" not in q2.grade(5)[1]


def test_estimate_accepts_within_a_factor(bank_dir):
    write(bank_dir, GOOD)
    q5 = quiz.load_bank("99_demo")[4]
    assert q5.grade("2 GiB")[0] and q5.grade(1.7e9)[0] and q5.grade("2.4 GB")[0]
    ok, text = q5.grade(1e9)
    assert not ok and "Off by 2×" in text and "too low" in text and "forgot values" in text
    assert not q5.grade(-2e9)[0] and not q5.grade(0)[0]


def test_spot_the_bug(bank_dir):
    write(bank_dir, GOOD)
    q4 = quiz.load_bank("99_demo")[3]
    ok, text = q4.grade(1)
    assert ok and "Fix: y = x * 2" in text and "fine one" in text and "fine three" in text
    ok, text = q4.grade(2)
    assert not ok and "✔ fine line 3: `print(y)`   ← your answer" in text
    assert quiz.shuffled_options(q4, 5) == [0, 1, 2], "code lines keep their order"


@pytest.mark.parametrize("text, unit, expected", [
    ("4096", "bytes", 4096), ("4,096", "bytes", 4096), ("4 KiB", "bytes", 4096), ("2*32*64 bytes", "bytes", 4096),
    ("2^12", "bytes", 4096), ("0.5 GB", "bytes", 5e8), ("1 GiB", "MiB", 1024), ("512 MiB", "GiB", 0.5),
    ("7B", "params", 7e9), ("7 billion params", "params", 7e9), ("1.5e9", "params", 1.5e9), ("12k", "", 12_000),
    ("7 ms", "s", 0.007), ("40 ms", "s", 0.04), ("2.4 TFLOP", "FLOP", 2.4e12), ("3 GFLOPs", "FLOP", 3e9),
    ("25 GB/s", "GB/s", 25), ("14 tokens/s", "tokens/s", 14), ("8%", "%", 8), ("-3", "", -3),
])
def test_parse_quantity(text, unit, expected):
    assert math.isclose(quiz.parse_quantity(text, unit), expected, rel_tol=1e-12)


@pytest.mark.parametrize("text, unit", [
    ("3 ms", "bytes"), ("2 GB", "s"), ("4 apples", "params"), ("hello", ""), ("2 **", ""), ("2 ** 5000", ""),
    ("__import__('os')", ""), ("1/0", ""), ("5 GB/s", "bytes"), ("", "bytes"), ("1e400", ""), ("10**400", ""),
])
def test_parse_quantity_refuses(text, unit):
    with pytest.raises(ValueError):
        quiz.parse_quantity(text, unit)


def test_format_quantity():
    assert quiz.format_quantity(2**31, "bytes") == "2,147,483,648 bytes = 2 GiB"
    assert quiz.format_quantity(64, "MiB") == "64 MiB"
    assert quiz.format_quantity(0.0058333, "s") == "0.005833 s"


# ------------------------------------------------------------------------------------------------------------
# Bank validation
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b["questions"][0]["options"][1].pop("correct"), "exactly the right number"),
    (lambda b: b["questions"][0]["options"][0].pop("why"), "'why'"),
    (lambda b: b["questions"][1].pop("answer"), "'answer'"),
    (lambda b: b["questions"][1].update(answer=float("nan")), "finite"),
    (lambda b: b["questions"][1]["traps"][0].pop("why"), "trap 0"),
    (lambda b: b["questions"].append(dict(b["questions"][0])), "duplicate"),
    (lambda b: b.update(module="00_other"), "'module'"),
    (lambda b: b["questions"][0].update(type="essay"), "type must be"),
    (lambda b: b["questions"][0].update(module="attention"), "course module"),
    (lambda b: b["questions"][0].update(tags="attention"), "'tags'"),
    (lambda b: b["questions"][3]["lines"][0].update(bug=True), "exactly one line"),
    (lambda b: b["questions"][3]["lines"].pop(), "3 or more"),
    (lambda b: b["questions"][3]["lines"][2].pop("why"), "line 3"),
    (lambda b: b["questions"][4].update(factor=1.0), "factor > 1"),
    (lambda b: b["questions"][4].update(compute="kv"), "'compute'"),
])
def test_bad_banks_are_refused(bank_dir, mutate, message):
    bank = json.loads(json.dumps(GOOD))
    mutate(bank)
    write(bank_dir, bank)
    with pytest.raises(quiz.QuizError, match=message):
        quiz.load_bank("99_demo")


def test_missing_and_invalid_json(bank_dir):
    with pytest.raises(quiz.QuizError, match="no quiz bank"):
        quiz.load_bank("99_demo")
    (bank_dir / "99_demo.json").write_text("{not json")
    with pytest.raises(quiz.QuizError, match="not valid JSON"):
        quiz.load_bank("99_demo")
    with pytest.raises(quiz.QuizError, match="no topic bank"):
        quiz.load_topic("self_attention")


def test_topic_banks_default_module_and_tag(bank_dir):
    (bank_dir / "topics" / "self_attention.json").write_text(json.dumps(TOPIC), encoding="utf-8")
    tq1, tq2 = quiz.load_topic("self_attention")
    assert tq1.module == "01_attention" and tq2.module == "02_multihead"
    assert tq1.tags[0] == "self_attention" and "self_attention" in tq2.topics
    assert tq1.key == "topics/self_attention:tq1"
    assert tq1.text("zh") == "缩放？" and tq2.text("zh") == "Heads?"
    bad = dict(TOPIC, topic="multi_head")
    (bank_dir / "topics" / "self_attention.json").write_text(json.dumps(bad), encoding="utf-8")
    quiz.load_topic.cache_clear()
    with pytest.raises(quiz.QuizError, match="'topic' must be"):
        quiz.load_topic("self_attention")


# ------------------------------------------------------------------------------------------------------------
# Seeds, text mode and progress
# ------------------------------------------------------------------------------------------------------------


def test_shuffle_is_seeded_per_learner(bank_dir, monkeypatch):
    write(bank_dir, GOOD)
    q1 = quiz.load_bank("99_demo")[0]
    assert quiz.shuffled_options(q1, 3) == quiz.shuffled_options(q1, 3)
    assert sorted(quiz.shuffled_options(q1, 3)) == [0, 1, 2]
    assert len({tuple(quiz.shuffled_options(q1, s)) for s in range(20)}) > 1
    orders = set()
    for name in ("ada", "grace", "alan", "edsger", "barbara", "donald"):
        monkeypatch.setenv(quiz.LEARNER_ENV, name)
        assert quiz.shuffled_options(q1) == quiz.shuffled_options(q1), "same learner, same order"
        orders.add(tuple(quiz.shuffled_options(q1)))
    assert len(orders) > 1, "different learners should not all see the same order"


def test_text_fallback_outside_ipython(bank_dir, capsys):
    write(bank_dir, GOOD)
    quiz.show("99_demo")
    out = capsys.readouterr().out
    assert "1. Pick b  [q1]" in out and "(a)" in out and "2. 2+2?" in out
    assert " 2 | y = x +* 2" in out and "quiz.answer(" in out


def test_answer_in_text_mode_records_progress(bank_dir, capsys):
    write(bank_dir, GOOD)
    q1 = quiz.load_bank("99_demo")[0]
    letter = "abc"[quiz.shuffled_options(q1).index(1)]
    wrong = "abc"[quiz.shuffled_options(q1).index(0)]
    assert not quiz.answer("q1", wrong)
    assert quiz.mistake_keys() == ["99_demo:q1"]
    assert quiz.answer("99_demo", 1, letter.upper())
    assert quiz.mistake_keys() == []
    assert quiz.answer("q4", "line 2") and not quiz.answer("q4", "3")
    assert quiz.answer("q2", "4 apples") and quiz.answer("q5", "2 GB")
    q3 = quiz.load_bank("99_demo")[2]
    letters = "".join("abc"[quiz.shuffled_options(q3).index(i)] for i in (0, 2))
    assert quiz.answer("q3", letters)
    entry = quiz.load_progress()["answers"]["99_demo:q1"]
    assert entry["attempts"] == 2 and entry["right"] == 1 and entry["first_ok"] is False and entry["last_ok"]
    for bad in [("q1", "z"), ("q1", "ab"), ("q4", "9"), ("q4", "x"), ("no-such-id", "a"), ("99_demo", 9, "a")]:
        with pytest.raises(quiz.QuizError):
            quiz.answer(*bad)
    assert "Correct." in capsys.readouterr().out


def test_progress_path_is_redirected_and_defaults_to_home(monkeypatch, tmp_path):
    assert quiz.progress_path() == tmp_path / "state" / "progress.json"
    monkeypatch.delenv(quiz.PROGRESS_ENV)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert quiz.progress_path() == tmp_path / "home" / ".llmcourse" / "progress.json"
    assert quiz.load_progress()["answers"] == {}
    assert not (tmp_path / "home").exists(), "reading progress must not create files"


def test_review_progress_and_drill_selection(bank_dir, capsys):
    write(bank_dir, GOOD)
    (bank_dir / "topics" / "self_attention.json").write_text(json.dumps(TOPIC), encoding="utf-8")
    q1, q2 = quiz.load_bank("99_demo")[:2]
    tq1 = quiz.load_topic("self_attention")[0]
    quiz.record(q1, 0, False)
    quiz.record(q2, "4", True)
    quiz.record(tq1, 1, False)
    assert [q.id for q in quiz.mistakes()] == ["q1", "tq1"]
    assert [q.id for q in quiz.select("self_attention", mistakes=True)] == ["tq1"]
    assert {q.id for q in quiz.select(module="02_multihead")} == {"tq2"}
    assert len(quiz.select(n=3, seed=1)) == 3 and quiz.select(n=3, seed=1) == quiz.select(n=3, seed=1)
    with pytest.raises(quiz.QuizError, match="unknown topic"):
        quiz.select("attention")
    rows = {(r["kind"], r["name"]): r for r in quiz.progress_table()}
    assert rows[("module", "99_demo")] == {"kind": "module", "name": "99_demo", "title": "", "questions": 5,
                                           "answered": 2, "right": 1, "first_try": 1, "review": 1}
    assert rows[("topic", "self_attention")]["review"] == 1 and rows[("module", "01_attention")]["questions"] == 1
    quiz.review()
    out = capsys.readouterr().out
    assert "Review of your mistakes" in out and "Pick b" in out and "Scale?" in out and "2+2?" not in out
    quiz.progress()
    assert "99_demo" in capsys.readouterr().out
    quiz.record(q1, 1, True)
    quiz.record(tq1, 0, True)
    quiz.review()
    assert "no mistakes to review" in capsys.readouterr().out


def test_damaged_progress_file_is_kept_aside(bank_dir):
    write(bank_dir, GOOD)
    path = quiz.progress_path()
    path.parent.mkdir(parents=True)
    path.write_text("{broken", encoding="utf-8")
    assert quiz.load_progress()["answers"] == {}
    quiz.record(quiz.load_bank("99_demo")[0], 1, True)
    assert json.loads(path.read_text(encoding="utf-8"))["answers"]["99_demo:q1"]["last_ok"] is True
    assert path.with_name("progress.json.broken").read_text(encoding="utf-8") == "{broken"
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".progress-")], "no temporary files left"


# ------------------------------------------------------------------------------------------------------------
# Widgets, driven without a browser (tests/browser drives them in JupyterLab)
# ------------------------------------------------------------------------------------------------------------


def test_widget_checks_answers_and_saves_progress(bank_dir):
    ipywidgets = pytest.importorskip("ipywidgets")
    write(bank_dir, GOOD)
    (bank_dir / "topics" / "self_attention.json").write_text(json.dumps(TOPIC), encoding="utf-8")
    questions = list(quiz.load_bank("99_demo")) + [quiz.load_topic("self_attention")[0]]
    root = quiz.quiz_widget(questions, seed=4, title="demo")
    everything = list(walk(root))
    radios = [w for w in everything if isinstance(w, ipywidgets.RadioButtons)]
    buttons = [w for w in everything if isinstance(w, ipywidgets.Button)]
    feedback = [w for w in everything if "llmcourse-feedback" in w._dom_classes]
    texts = [w for w in everything if isinstance(w, ipywidgets.Text)]
    assert len(buttons) == len(feedback) == len(questions) == 6
    buttons[0].click()
    assert "Choose an answer first" in feedback[0].value and not quiz.load_progress()["answers"]
    assert [label for label, _ in radios[0].options] == [GOOD["questions"][0]["options"][i]["text"]
                                                        for i in quiz.shuffled_options(questions[0], 4)]
    radios[0].value = 1
    buttons[0].click()
    assert "Correct." in feedback[0].value and "tempting but wrong" in feedback[0].value
    texts[0].value = "5"
    buttons[1].click()
    assert "Not quite" in feedback[1].value and "4 apples" in feedback[1].value
    radios[1].value = 1  # the bug question: line 2
    buttons[3].click()
    assert "buggy line" in feedback[3].value and "y = x * 2" in feedback[3].value
    answers = quiz.load_progress()["answers"]
    assert answers["99_demo:q1"]["last_ok"] and answers["99_demo:q4"]["last_ok"]
    assert not answers["99_demo:q2"]["last_ok"]
    score = [w for w in everything if "llmcourse-score" in w._dom_classes][0]
    assert "<b>2/6</b>" in score.value
    switch = [w for w in everything if "llmcourse-lang" in w._dom_classes][0]
    prompts = [w for w in everything if isinstance(w, ipywidgets.HTML) and "6. " in w.value]
    switch.value = "zh"
    assert "缩放？" in prompts[0].value
    switch.value = "en"
    assert "Scale?" in prompts[0].value
    bundle = root._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle and "quiz.answer(" in bundle["text/plain"]


def test_answer_box_without_widgets_prints_the_line_to_write(capsys):
    quiz.answer_box("heads_axis", ["sequence", "features"])
    quiz.answer_box("kv_bytes", unit="bytes")
    out = capsys.readouterr().out
    assert "(b) features" in out and "heads_axis = 'b'" in out and "kv_bytes = <a number in bytes>" in out
    assert quiz.answer_line("picks", {"c", "a"}) == "picks = 'ac'"


def test_answer_box_speaks_the_quiz_language(capsys):
    quiz.answer_box("heads_axis", ["sequence", "features"], choices_zh=["序列轴", "特征轴"], lang="zh")
    quiz.answer_box("picks", ["a", "b", "c"], multiple=True, lang="zh")
    quiz.answer_box("kv_bytes", unit="bytes", lang="zh")
    out = capsys.readouterr().out
    assert "(b) 特征轴" in out and "heads_axis = 'b'" in out and "答案单元格" in out
    assert "picks = 'ac'" in out and "全部字母" in out and "一个数，单位为 bytes" in out
    quiz.answer_box("heads_axis", ["sequence", "features"], choices_zh=["序列轴", "特征轴"], lang="en")
    assert "(b) features" in capsys.readouterr().out
    with pytest.raises(quiz.QuizError, match="2 Chinese labels for 3 choices"):
        quiz.answer_box("x", ["a", "b", "c"], choices_zh=["甲", "乙"])


def test_frontend_detection(monkeypatch):
    monkeypatch.delenv(quiz.MODE_ENV)
    assert quiz._frontend() in ("text", "terminal")  # no kernel here
    monkeypatch.setenv(quiz.MODE_ENV, "widgets")
    assert quiz._frontend() == "widgets"


# ------------------------------------------------------------------------------------------------------------
# The shipped banks: schema, coverage, answer keys
# ------------------------------------------------------------------------------------------------------------

CJK = re.compile(r"[\u4e00-\u9fff]")
COMMON_KEYS = {"id", "type", "prompt", "prompt_zh", "tags", "module", "why", "why_zh", "compute"}
KEYS = {"single": COMMON_KEYS | {"options"}, "multiple": COMMON_KEYS | {"options"},
        "numeric": COMMON_KEYS | {"answer", "unit", "unit_zh", "rel_tol", "abs_tol", "traps"},
        "estimate": COMMON_KEYS | {"answer", "unit", "unit_zh", "factor", "traps"}, "bug": COMMON_KEYS | {"lines"}}


def shipped_files() -> list[Path]:
    return sorted(quiz.BANK_DIR.glob("*.json")) + sorted((quiz.BANK_DIR / "topics").glob("*.json"))


def raw_questions() -> list[tuple[str, dict]]:
    out = []
    for path in shipped_files():
        data = json.loads(path.read_text(encoding="utf-8"))
        out += [(path.name, q) for q in data.get("questions", [])]
    return out


def numeric_questions() -> list[quiz.Question]:
    return [q for q in quiz.all_questions() if q.type in ("numeric", "estimate")]


def test_shipped_banks_load_and_ids_are_unique():
    module_banks, topic_banks = quiz.module_banks(), quiz.topic_banks()
    assert "00_welcome" in module_banks and topic_banks
    for name in module_banks:
        assert len(quiz.load_bank(name)) >= 4, name
    ids = [q.id for q in quiz.all_questions()]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    assert not duplicates, f"question ids must be unique across all banks: {duplicates}"


@pytest.mark.parametrize("where, raw", raw_questions(), ids=lambda v: v["id"] if isinstance(v, dict) else v)
def test_every_question_follows_the_schema(where, raw):
    qid = raw["id"]
    assert quiz.ID_RE.match(qid), f"{where}: id {qid!r} must be lower-case letters, digits, '-' or '_'"
    unknown = set(raw) - KEYS[raw["type"]]
    assert not unknown, f"{where} {qid}: unknown keys {sorted(unknown)} (a typo?)"
    assert raw.get("tags"), f"{where} {qid}: needs topic tags"
    if "module" in raw:
        assert raw["module"] in quiz.MODULES, f"{where} {qid}: unknown module {raw['module']!r}"
    if raw.get("prompt_zh"):
        assert CJK.search(raw["prompt_zh"]), f"{where} {qid}: prompt_zh holds no Chinese text"
    explanations = [o["why"] for o in raw.get("options", raw.get("lines", []))]
    explanations += [t["why"] for t in raw.get("traps", [])] + ([raw["why"]] if raw.get("why") else [])
    assert all(len(w.strip()) >= 8 for w in explanations), f"{where} {qid}: an explanation is too short to explain"
    if raw["type"] in ("single", "multiple"):
        texts = [o["text"] for o in raw["options"]]
        assert len(set(texts)) == len(texts) >= 2, f"{where} {qid}: duplicate options"
        assert sum(not o.get("correct") for o in raw["options"]) >= 1, f"{where} {qid}: needs a wrong option"


def test_topic_banks_cover_every_interview_topic():
    assert set(quiz.topic_banks()) == set(quiz.TOPICS)
    counts = {t: len(quiz.load_topic(t)) for t in quiz.TOPICS}
    print("questions per topic bank:", counts, "total", sum(counts.values()))
    assert all(n >= 8 for n in counts.values()), counts
    assert sum(counts.values()) >= 120
    for t in quiz.TOPICS:
        qs = quiz.load_topic(t)
        assert all(q.prompt_zh for q in qs), f"{t}: every interview question carries a Chinese prompt"
        assert len({q.type for q in qs}) >= 3, f"{t}: mix the question types"
        assert all(q.module in quiz.MODULES for q in qs)


@pytest.mark.parametrize("question", numeric_questions(), ids=lambda q: q.id)
def test_numeric_answer_keys_are_recomputed(question):
    spec = question.compute
    assert spec is not None, (f"{question.key}: add \"compute\": {{\"fn\": ..., \"args\": {{...}}}} so that the "
                              f"answer key is recomputed (formulas: {sorted(FORMULAS)})")
    unknown = _formula_names(spec) - set(FORMULAS)
    assert not unknown, f"{question.key}: unknown formula(s) {sorted(unknown)}; add them to FORMULAS"
    value = recompute(spec, question.unit)
    tolerance = min(question.rel_tol, 0.005) if question.type == "numeric" else 0.005
    assert math.isclose(question.answer, value, rel_tol=tolerance, abs_tol=question.abs_tol), (
        f"{question.key}: the bank says {question.answer}, the formula gives {value}")
    assert question.accepts(value) and question.grade(str(value))[0]


@pytest.mark.parametrize("question", [q for q in numeric_questions() if q.traps], ids=lambda q: q.id)
def test_traps_are_wrong_and_recomputed(question):
    """Every trap carries the computation of the mistake its explanation names; it must give the trap's value,
    and that value must be wrong: not accepted as the answer within the question's tolerance."""
    raw = next(r for _, r in raw_questions() if r["id"] == question.id)
    for trap, raw_trap in zip(question.traps, raw["traps"], strict=True):
        assert "compute" in raw_trap, (f"{question.key}: trap {trap.value} needs \"compute\": the formula of the "
                                       f"mistake it names ({trap.why!r}); formulas: {sorted(FORMULAS)}")
        unknown = _formula_names(raw_trap["compute"]) - set(FORMULAS)
        assert not unknown, f"{question.key}: unknown formula(s) {sorted(unknown)}; add them to FORMULAS"
        value = recompute(raw_trap["compute"], question.unit)
        assert math.isclose(trap.value, value, rel_tol=0.005), (
            f"{question.key}: trap {trap.value}, but the mistake it names computes to {value}")
        for v in (trap.value, value):
            assert not question.accepts(v), f"{question.key}: trap {v} is within the tolerance of the answer"
        ok, text = question.grade(trap.value)
        assert not ok and trap.why in text


def test_formulas_agree_with_independent_facts():
    assert FORMULAS["fp16_max"]() == 65504
    for value in (1.0, 3.0, 1024.0, 1500.0):
        assert _float_spacing(value, 10) == float(np.spacing(np.float16(value)))
    assert math.isclose(_svd_tail_error([10, 5, 2, 1], 2), math.sqrt(5), rel_tol=1e-9)
    assert FORMULAS["causal_pairs"](4) == 10 and _zero_bytes_per_rank(10, 1, 3) == 160
    assert FORMULAS["decode_flops"](7) == 2 * FORMULAS["lowrank_params"](1, 6, 1)


def test_right_answer_is_not_always_shown_first():
    questions = [q for q in quiz.all_questions() if q.type == "single"]
    for seed in (0, 1, quiz.learner_seed()):
        first = sum(q.options[quiz.shuffled_options(q, seed)[0]].correct for q in questions)
        assert first < 0.5 * len(questions), f"seed {seed}: right answer first in {first}/{len(questions)}"


def test_every_question_renders_as_text_and_widget():
    pytest.importorskip("ipywidgets")
    questions = quiz.all_questions()
    text = quiz.quiz_text(questions, seed=0, lang="zh")
    assert text.count("[") >= len(questions)
    root = quiz.quiz_widget(questions, seed=0)
    assert sum("llmcourse-question" in w._dom_classes for w in walk(root)) == len(questions)


MODULE_NOTEBOOKS = [a for a in (s.assignment for s in build.discover(REPO))
                    if a in quiz.MODULES and a != "14_question_bank"]


@pytest.mark.parametrize("assignment", MODULE_NOTEBOOKS)
def test_every_module_ends_with_its_quiz(assignment):
    source = (REPO / SOURCE_DIR / assignment / f"{assignment}.py").read_text(encoding="utf-8")
    cells = re.split(r"^# %%", source, flags=re.M)
    code = [c for c in cells if not c.startswith(" [markdown]") and c.strip()]
    quiz_at = [i for i, c in enumerate(code) if f'quiz.show("{assignment}")' in c]
    graded = [i for i, c in enumerate(code) if '"grade_id"' in c.splitlines()[0]]
    assert quiz_at, f"{assignment} has no cell calling quiz.show({assignment!r})"
    assert quiz_at[-1] > max(graded, default=-1), f"{assignment}: the quiz must come after the last exercise"
    assert 4 <= len(quiz.load_bank(assignment)) <= 8
