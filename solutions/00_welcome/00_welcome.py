# %% [markdown]
# # Module 00 · Welcome: what a language model does
#
# Strip away the scale and every large language model does one job: it reads the text so far and
# puts a probability on each token that could come next. Training makes those probabilities good;
# everything else in this course (attention, KV caches, quantization, pruning, sharding across GPUs)
# is about computing them well, cheaply and quickly.
#
# In this first module you build the smallest model that does the job, a table of counts, and you
# judge it with the same two numbers used for real LLMs: **cross-entropy** and **perplexity**. Then
# you let it write, once greedily and once by sampling. On the way you learn how the notebooks of this
# course work: the exercises, the self-checks, the hidden tests, the quizzes and the hardware check.
#
# **After this module you can**
# - turn text into token ids and count which token follows which;
# - turn counts into a smoothed next-token distribution, and say why a zero probability is a bug;
# - compute cross-entropy in nats and convert it to perplexity (and to bits) without mixing bases;
# - generate text greedily and by sampling with a seeded random generator, and explain the difference.
#
# Everything runs on a CPU in a few seconds. Points: 15 in total.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("00_welcome")

# %% [markdown]
# ## 0 How this course works
#
# **Exercises.** Each graded exercise has a heading with its points, then a code cell holding a
# function signature, a docstring that states the shapes, and the line `raise NotImplementedError()`.
# Replace that line (and the `# YOUR CODE HERE` comment) with your code. Keep the function's name and
# arguments: the tests call them.
#
# **Self-checks and hidden tests.** Under every exercise sits a locked test cell. Its visible line,
# for example `checks.welcome.bigram_counts(bigram_counts)`, runs a handful of small named cases. On
# success it prints one line starting with ✔; on failure it raises `CheckFailed` naming the case and
# showing what was expected against what your function returned. When the notebook is graded, the same
# cell also runs **hidden tests**: other sizes and seeds, edge cases, and the popular wrong answers
# described in the text. Passing the visible check is necessary, not sufficient.
#
# **Validate before you submit.** In JupyterLab with the nbgrader extension, the *Validate* button
# restarts the kernel, runs the notebook top to bottom and lists the test cells that fail. From a
# terminal, `nbgrader validate 00_welcome.ipynb` does the same. Two details matter for your grade:
# run cells in order (a notebook that only works in the order you happened to run it fails grading),
# and keep your functions free of numerical warnings: **an overflow, invalid-value (NaN) or
# divide-by-zero RuntimeWarning from your function fails its check**, because it marks a numerical
# defect even when the result looks right. Other warnings (a library's UserWarning or
# DeprecationWarning) pass with a note; the course's grader flags them for the instructor, and plain
# `nbgrader autograde` without the course's grading kernel scores a test cell with stderr output 0.
#
# **Quizzes.** Each module ends with a short quiz, `quiz.show("00_welcome")`: widgets that tell you
# at once whether you are right and why. The quizzes are for practice and are not graded. Graded short
# answers are plain Python variables that you set in a cell (section 3.3 has some).
#
# **Sizes.** Slow cells choose their problem size with `size(default, small)`. You always get the
# default; the course's own tests set `LLMCOURSE_SMALL=1` to run the small one.
#
# **Hardware.** This module needs only a CPU. Later modules run faster on a GPU when there is one and
# fall back to the CPU otherwise. The next cell imports what we need and reports what this machine has.

# %%
import math

import numpy as np

from llmcourse import checks, plot, quiz
from llmcourse.data import CharTokenizer, load_corpus
from llmcourse.env import hardware_report, size

report = hardware_report()
for key, value in report.items():
    print(f"{key:>14}: {value}")

# %% [markdown]
# ### 0.1 Warm-up: choose a device (1 point)
#
# PyTorch code names the device it runs on: `"cuda"` for an NVIDIA GPU, `"mps"` for an Apple GPU,
# `"cpu"` otherwise. Write `pick_device(report)` that reads a report like the one printed above and
# returns the best device as a string: CUDA first, then MPS, then the CPU.
#
# Keys can be missing: on a machine without PyTorch the report holds `"torch": None` and no
# `"cuda"` or `"mps"` key at all. `dict.get` returns `None` for a missing key.
#
# A popular wrong answer is `if "cuda" in report:`. That asks whether the *key* exists, and the key
# exists on every machine with PyTorch, GPU or not. What matters is its *value*.

# %% nbgrader={"grade": false, "grade_id": "pick_device", "locked": false, "solution": true, "schema_version": 3}
def pick_device(report: dict) -> str:
    """Return "cuda" if report["cuda"] is true, else "mps" if report["mps"] is true, else "cpu".

    report: a dict like hardware_report() returns; the "cuda" and "mps" keys may be missing.
    """
    ### BEGIN SOLUTION
    if report.get("cuda"):
        return "cuda"
    if report.get("mps"):
        return "mps"
    return "cpu"
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "pick_device_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.welcome.pick_device(pick_device)
### BEGIN HIDDEN TESTS
def _expected_device(r):
    if r.get("cuda"):
        return "cuda"
    return "mps" if r.get("mps") else "cpu"


_reports = [
    {"torch": "2.x", "cuda": True, "mps": True},
    {"torch": "2.x", "cuda": True, "cuda_devices": ["H100"], "mps": False},
    {"torch": "2.x", "cuda": False, "mps": False, "cuda_devices": []},
    {"torch": "2.x", "cuda": False},
    {"torch": "2.x", "mps": True},
    {"torch": None},
    {"python": "3.12", "machine": "x86_64", "cpu_count": 8},
]
for _r in _reports:
    _got = pick_device(dict(_r))
    assert isinstance(_got, str), f"report {_r}: return a string such as 'cpu', got {_got!r}"
    assert _got == _expected_device(_r), f"report {_r}: expected {_expected_device(_r)!r}, got {_got!r}"
_real = hardware_report()
assert pick_device(dict(_real)) == _expected_device(_real), "wrong device for this machine's own report"
### END HIDDEN TESTS

# %% [markdown]
# PyTorch answers the same questions directly: `torch.cuda.is_available()` is what
# `hardware_report()` asks. Once you have a device name, tensors can be created on it:

# %%
import torch

print("torch.cuda.is_available():", torch.cuda.is_available())
device = torch.device(pick_device(report))
x = torch.ones(2, 3, device=device)  # (2, 3)
print(f"a {tuple(x.shape)} tensor lives on: {x.device}")

# %% [markdown]
# ## 1 Text becomes token ids
#
# The course ships its own corpus, generated from a fixed seed so that nothing is downloaded. Most
# lines are short sentences from a small grammar; the rest are little tasks whose answers can be
# checked exactly (addition, copying a random word, recalling a value). Later modules use the tasks to
# measure what compression does to a model. Here they are simply text.

# %%
train_text = load_corpus("train")
val_text = load_corpus("val")
print(f"train: {len(train_text):,} characters, validation: {len(val_text):,} characters\n")
print(train_text[:400])

# %% [markdown]
# A model does not see characters; it sees integers. A **tokenizer** maps text to token ids and back.
# Ours is the simplest possible: one token per character, over a fixed vocabulary of `V = 48`
# characters (newline, space, some punctuation, digits and lower-case letters). Real LLMs use subword
# tokenizers with tens of thousands to a few hundred thousand tokens, so a token is often a whole word;
# none of the ideas below depends on that choice.

# %%
tok = CharTokenizer()
V = tok.vocab_size
print("V =", V)
print("vocabulary:", repr(tok.vocab))

ids = tok.encode("add 47+38=85\n")
print("encode:", ids)
print("decode:", repr(tok.decode(ids)))

train_ids = tok.encode(train_text)  # (T_train,)
val_ids = tok.encode(val_text)      # (T_val,)
print("train_ids:", train_ids.shape, train_ids.dtype, " val_ids:", val_ids.shape)

# %% [markdown]
# **What a language model computes.** Write the text as tokens $x_0, x_1, \dots, x_{T-1}$. By the
# chain rule of probability,
#
# $$P(x_0, \dots, x_{T-1}) = P(x_0)\,\prod_{t=0}^{T-2} P(x_{t+1} \mid x_0, \dots, x_t).$$
#
# A language model supplies the factors: given a prefix, a distribution over the next token. A GPT
# conditions on the whole prefix (up to its context length). The smallest useful model conditions on
# the **last token only**, $P(x_{t+1} \mid x_t)$: a *bigram* model. It is a $V \times V$ table, one row
# per previous token, one column per next token, each row a probability distribution. You can
# estimate it by counting.

# %% [markdown]
# ## 2 A bigram model by counting
#
# ### 2.1 Count the pairs (2 points)
#
# Write `bigram_counts(ids, V)` returning a `(V, V)` integer array where `counts[a, b]` is the number
# of positions `t` with `ids[t] == a` and `ids[t + 1] == b`. A sequence of `T` tokens has `T - 1` such
# (previous, next) pairs; with `T <= 1` there are none.
#
# *Hints.* `ids[:-1]` are the previous tokens and `ids[1:]` the next ones. `np.add.at(counts, (rows,
# cols), 1)` adds 1 at every (row, col) pair, repeated pairs included (plain `counts[rows, cols] += 1`
# would count a repeated pair only once). Another route: give each pair the single number
# `a * V + b`, count those with `np.bincount(..., minlength=V * V)` and reshape. A plain Python loop
# over the pairs works too, only slower (a few tenths of a second on the 690,000 training tokens).
#
# Popular wrong answers, all caught by the tests:
# - pairing each token with **itself** (`zip(ids, ids)`) or with the token two steps away;
# - **wrapping around** with `np.roll`, which invents a pair (last token, first token);
# - **swapping the roles**, `counts[next, previous]`: the row must be the token you condition on;
# - returning **floats**: counts are integers.

# %% nbgrader={"grade": false, "grade_id": "bigram_counts", "locked": false, "solution": true, "schema_version": 3}
def bigram_counts(ids: np.ndarray, V: int) -> np.ndarray:
    """Count adjacent token pairs.

    ids: (T,) integer token ids in [0, V).
    Returns a (V, V) integer array: counts[a, b] = number of t with ids[t] == a and ids[t + 1] == b.
    """
    ### BEGIN SOLUTION
    ids = np.asarray(ids, dtype=np.int64)                # (T,)
    prev, nxt = ids[:-1], ids[1:]                        # (T-1,) each
    flat = np.bincount(prev * V + nxt, minlength=V * V)  # (V*V,)
    return flat.reshape(V, V)                            # (V, V)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bigram_counts_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.welcome.bigram_counts(bigram_counts)
### BEGIN HIDDEN TESTS
def _loop_counts(ids, V):
    c = np.zeros((V, V), dtype=np.int64)
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        c[a, b] += 1
    return c


_rng = np.random.default_rng(100)
for _V, _T in [(1, 5), (2, 2), (7, 1), (7, 0), (11, 300), (48, 2000)]:
    _ids = _rng.integers(0, _V, size=_T)
    _before = _ids.copy()
    _got = bigram_counts(_ids, _V)
    assert isinstance(_got, np.ndarray), f"V={_V}, T={_T}: return a NumPy array, got {type(_got).__name__}"
    assert _got.shape == (_V, _V), f"V={_V}, T={_T}: expected shape {(_V, _V)}, got {_got.shape}"
    assert _got.dtype.kind in "iu", f"V={_V}, T={_T}: counts must be integers, got dtype {_got.dtype}"
    assert np.array_equal(_got, _loop_counts(_ids, _V)), f"V={_V}, T={_T}: wrong counts"
    assert np.array_equal(_ids, _before), "bigram_counts modified its input"
# int32 ids from another tokenizer
_ids = _rng.integers(0, 9, size=500).astype(np.int32)
assert np.array_equal(bigram_counts(_ids, 9), _loop_counts(_ids, 9)), "int32 ids: wrong counts"
# direction: 0 is always followed by 1, and 1 never by 0
_got = bigram_counts(np.array([0, 1, 2, 0, 1, 2, 0, 1]), 3)
assert _got[0, 1] == 3 and _got[1, 0] == 0, "rows are the previous token, columns the next token"
# no wrap-around: the last token has no successor
_got = bigram_counts(np.array([0, 0, 0, 3]), 4)
assert _got[3].sum() == 0 and _got.sum() == 3, "the last token starts no pair (no wrap-around)"
# the real corpus
_got = bigram_counts(train_ids[:20_000], V)
assert np.array_equal(_got, _loop_counts(train_ids[:20_000], V)), "wrong counts on the course corpus"
### END HIDDEN TESTS

# %% [markdown]
# Count the whole training set and look at the most common pairs. The space and the newline are
# shown as `␣` and `↵`.

# %%
counts = bigram_counts(train_ids, V)  # (V, V)
labels = plot.token_labels(tok.vocab)
print(f"{counts.sum():,} pairs counted (T - 1 = {len(train_ids) - 1:,})")
order = np.argsort(-counts, axis=None)[:10]  # flat indices of the 10 largest counts
for a, b in zip(*np.unravel_index(order, counts.shape), strict=True):
    print(f"  {labels[a]} -> {labels[b]}: {counts[a, b]:>7,}")

# %% [markdown]
# ### 2.2 From counts to probabilities (2 points)
#
# Dividing each row by its total turns counts into the maximum-likelihood estimate
# $P(b \mid a) = \text{counts}[a, b] / \sum_{b'} \text{counts}[a, b']$. Any pair that never occurred
# in training then gets probability exactly **zero**, and section 3 shows why that is fatal. The
# classic fix is **add-alpha smoothing**: pretend every pair was seen `alpha` extra times,
#
# $$P(b \mid a) = \frac{\text{counts}[a, b] + \alpha}{\sum_{b'} \text{counts}[a, b'] + \alpha V}.$$
#
# `alpha = 1` is Laplace's rule; small values such as 0.01 trust the data more. With `alpha = 0` a
# previous token that never occurred has an all-zero row and 0/0 has no answer: return the
# **uniform** row `1 / V` there (no evidence, so no preference).
#
# Write `bigram_probs(counts, alpha)` returning the `(V, V)` float matrix.
#
# Popular wrong answers:
# - normalising **columns** (`axis=0`): that estimates P(previous | next), and rows no longer sum to 1;
# - forgetting `alpha * V` in the denominator, so rows sum to more than 1;
# - dividing 0 by 0 for unseen tokens, which fills a row with NaN (and prints a RuntimeWarning);
# - integer division, or `counts += alpha` on the caller's array (never modify an input in place).

# %% nbgrader={"grade": false, "grade_id": "bigram_probs", "locked": false, "solution": true, "schema_version": 3}
def bigram_probs(counts: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Add-alpha smoothed next-token probabilities.

    counts: (V, V) integer pair counts, row = previous token, column = next token.
    alpha: pseudo-count (>= 0) added to every pair.
    Returns a (V, V) float array; each row sums to 1. A row with no counts and alpha = 0 is uniform 1/V.
    """
    ### BEGIN SOLUTION
    V = counts.shape[0]
    smoothed = counts.astype(np.float64) + alpha         # (V, V)
    totals = smoothed.sum(axis=1, keepdims=True)         # (V, 1)
    empty = totals == 0                                  # (V, 1)
    return np.where(empty, 1.0 / V, smoothed / np.where(empty, 1.0, totals))  # (V, V)
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "bigram_probs_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.welcome.bigram_probs(bigram_probs)
### BEGIN HIDDEN TESTS
def _loop_probs(c, alpha):
    n = c.shape[0]
    out = np.empty((n, n))
    for a in range(n):
        total = c[a].sum() + alpha * n
        out[a] = (c[a] + alpha) / total if total > 0 else 1.0 / n
    return out


_rng = np.random.default_rng(200)
for _V in (1, 2, 5, 48):
    _c = _rng.integers(0, 30, size=(_V, _V)) * (_rng.random((_V, _V)) < 0.6)
    if _V > 2:
        _c[_V // 2] = 0  # a token never seen as a previous token
    for _alpha in (0.0, 1e-3, 0.5, 1.0, 3.0):
        _before = _c.copy()
        _got = bigram_probs(_c, _alpha)
        _where = f"V={_V}, alpha={_alpha}"
        assert isinstance(_got, np.ndarray) and _got.shape == (_V, _V), f"{_where}: expected a (V, V) array"
        assert _got.dtype.kind == "f", f"{_where}: probabilities must be floats, got {_got.dtype}"
        assert not np.isnan(_got).any(), f"{_where}: NaN in the result (0/0 for an unseen token?)"
        assert np.allclose(_got.sum(axis=1), 1.0, rtol=0, atol=1e-6), f"{_where}: rows must sum to 1"
        assert np.allclose(_got, _loop_probs(_c, _alpha), rtol=1e-6, atol=1e-12), f"{_where}: wrong values"
        assert np.array_equal(_c, _before), f"{_where}: bigram_probs modified counts"
        if _alpha > 0:
            assert (_got > 0).all(), f"{_where}: smoothing must leave no zero probability"
# alpha = 0 keeps observed zeros as exact zeros (no hidden epsilon)
_got = bigram_probs(np.array([[0, 5], [2, 2]]), 0.0)
assert _got[0, 0] == 0.0 and _got[0, 1] == 1.0, "alpha=0: counts [0, 5] must give exactly [0, 1]"
# rows, not columns: row totals 10 and 1, column totals 2 and 9
assert np.allclose(bigram_probs(np.array([[1, 9], [1, 0]]), 0.0), [[0.1, 0.9], [1.0, 0.0]]), \
    "normalise each ROW (previous token), not each column"
# the default is alpha = 1, and an integer alpha still gives float probabilities
_c = _rng.integers(0, 5, size=(4, 4))
assert np.allclose(bigram_probs(_c), _loop_probs(_c, 1.0)), "the default alpha must be 1.0"
assert np.allclose(bigram_probs(_c, 2), _loop_probs(_c, 2.0)), "alpha=2 (an int) gave wrong values"
### END HIDDEN TESTS

# %% [markdown]
# Here is the unsmoothed (`alpha = 0`) model of the training corpus as a heatmap, on a log scale.
# Row = previous character, column = next character; blank cells are pairs that never occurred.
# Look for the structure: a digit is followed by another digit, `+`, `=`, a space or a newline, never
# by a letter; `.` is always followed by a newline; a newline by the first letter of `the`, `a`,
# `add`, `copy` or `recall`; `q` mostly by `u` (from *queen*) but also by other letters (from the
# random words of the copy task). The four flat rows are `!`, `:`, `;` and `-`, which never occur in
# the corpus: with no evidence the model falls back to the uniform guess.

# %%
probs_mle = bigram_probs(counts, 0.0)  # (V, V)
fig = plot.bigram_heatmap(probs_mle, tok.vocab, title="bigram model of the training corpus (alpha = 0)")

# %% [markdown]
# ## 3 How good is a model? Cross-entropy and perplexity
#
# Judge a model by the probability it gives to text it has **not** trained on: the validation split.
# The probability of a whole text is a product of thousands of numbers below 1, which underflows to
# 0.0 in floating point, so we work with logarithms and average over tokens:
#
# $$\text{CE} = -\frac{1}{T-1} \sum_{t=0}^{T-2} \ln P(x_{t+1} \mid x_t).$$
#
# This **cross-entropy** is the mean surprise per predicted token. With the natural log it is in
# **nats**; with $\log_2$ it would be in **bits** (1 nat = 1/ln 2 ≈ 1.443 bits). It is 0 for a model
# that is always certain and always right, $\ln V$ for a model that guesses uniformly, and infinite for
# a model that gives probability 0 to something that actually happens. It is also exactly the loss
# GPTs are trained to minimise.
#
# ### 3.1 Cross-entropy (2 points)
#
# Write `cross_entropy(probs, ids)`: the mean over the `T - 1` predictions of `-ln probs[ids[t],
# ids[t + 1]]`, as a Python float, in nats.
#
# If one of those probabilities is 0, the honest answer is `inf`, and it must come **without** a
# warning: `np.log(0.0)` prints a divide-by-zero RuntimeWarning, which fails the check. Wrap the
# log in `with np.errstate(divide="ignore"):`.
#
# Popular wrong answers:
# - `np.log(p + 1e-10)` or `np.clip(p, 1e-12, 1)`: it hides the zero and reports a finite, wrong
#   number (and distorts genuinely tiny probabilities);
# - the **sum** instead of the mean, which grows with the length of the text;
# - dividing by `T` instead of the number of predictions `T - 1`;
# - `probs[ids[1:], ids[:-1]]` (previous and next swapped), or `np.log2` (bits, not nats).

# %% nbgrader={"grade": false, "grade_id": "cross_entropy", "locked": false, "solution": true, "schema_version": 3}
def cross_entropy(probs: np.ndarray, ids: np.ndarray) -> float:
    """Mean negative log-likelihood of the next token, in nats.

    probs: (V, V) row-stochastic matrix, probs[a, b] = P(next = b | previous = a).
    ids: (T,) integer token ids, T >= 2.
    Returns a float: mean over t < T-1 of -ln probs[ids[t], ids[t+1]]; inf (with no warning) if one
    of those probabilities is 0.
    """
    ### BEGIN SOLUTION
    ids = np.asarray(ids)
    p = probs[ids[:-1], ids[1:]]        # (T-1,) probability given to each actual next token
    with np.errstate(divide="ignore"):
        nll = -np.log(p)                # (T-1,) inf where p == 0
    return float(nll.mean())
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "cross_entropy_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.welcome.cross_entropy(cross_entropy)
### BEGIN HIDDEN TESTS
import warnings as _warnings


def _loop_ce(p, ids):
    total = 0.0
    for a, b in zip(ids[:-1], ids[1:], strict=True):
        if p[a, b] == 0:
            return math.inf
        total -= math.log(p[a, b])
    return total / (len(ids) - 1)


def _quiet_ce(p, ids):
    with _warnings.catch_warnings(record=True) as caught:
        _warnings.simplefilter("always")
        got = cross_entropy(p, ids)
    caught = [w for w in caught if issubclass(w.category, RuntimeWarning)]  # numerical ones only
    assert not caught, f"cross_entropy emitted a warning: {caught[0].message}"
    assert np.ndim(got) == 0, f"return one number, got shape {np.shape(got)}"
    return float(got)


_rng = np.random.default_rng(300)
for _V in (2, 5, 48):
    _p = _rng.dirichlet(np.ones(_V), size=_V)  # (V, V), rows sum to 1
    for _T in (2, 3, 17, 1000):
        _ids = _rng.integers(0, _V, size=_T)
        _before = (_p.copy(), _ids.copy())
        _got = _quiet_ce(_p, _ids)
        assert math.isclose(_got, _loop_ce(_p, _ids), rel_tol=1e-9), \
            f"V={_V}, T={_T}: expected {_loop_ce(_p, _ids):.12g} nats, got {_got:.12g}"
        assert np.array_equal(_p, _before[0]) and np.array_equal(_ids, _before[1]), "inputs were modified"
# order matters: P(1 | 0) = 0.9 but P(0 | 1) = 0.2
_p = np.array([[0.1, 0.9], [0.2, 0.8]])
assert math.isclose(_quiet_ce(_p, np.array([0, 1])), -math.log(0.9)), "row = previous, column = next"
# a zero on the path is infinite; a zero elsewhere in the matrix does not matter
_p = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.2, 0.3, 0.5]])
assert _quiet_ce(_p, np.array([0, 1, 1, 0])) == math.inf, "probability 0 on the path: expected inf"
assert _quiet_ce(_p, np.array([2, 2, 0, 1, 2, 1, 1, 0])) == math.inf, "a zero inside a longer path"
assert math.isclose(_quiet_ce(_p, np.array([0, 1, 2, 2])), (0 + math.log(2) + math.log(2)) / 3), \
    "zeros that are not on the path must not change the result"
# a tiny but non-zero probability must not be clipped
_p = np.array([[1 - 1e-300, 1e-300], [0.5, 0.5]])
assert math.isclose(_quiet_ce(_p, np.array([0, 1])), 300 * math.log(10), rel_tol=1e-9), \
    "P = 1e-300 has surprise 690.8 nats: do not clip or add an epsilon"
### END HIDDEN TESTS

# %% [markdown]
# How does the bigram model do on the validation text, compared with the uniform guess?

# %%
probs = bigram_probs(counts, 1.0)  # (V, V) Laplace-smoothed model
ce_val = cross_entropy(probs, val_ids)
print(f"bigram model (alpha=1):  {ce_val:.4f} nats per character = {ce_val / math.log(2):.3f} bits")
print(f"uniform guess over V={V}: {math.log(V):.4f} nats per character = {math.log2(V):.3f} bits")
# A text with a character the corpus never uses: the unsmoothed model rules it out.
odd = tok.encode("the fox; it ran.\n")
print(f"unsmoothed model on {tok.decode(odd)!r}: {cross_entropy(probs_mle, odd)}")
print(f"smoothed model on the same text: {cross_entropy(probs, odd):.4f}")

# %% [markdown]
# ### 3.2 Perplexity (1 point)
#
# Cross-entropy in nats is hard to picture. **Perplexity** is its exponential, $e^{\text{CE}}$, and
# it reads as *the number of equally likely choices the model is hesitating between at each step*.
# A uniform guess over `V` tokens has perplexity exactly `V`; a perfect model has perplexity 1<!--const: a definition-->.
#
# Write `perplexity(ce_nats)`. The popular wrong answer is `2 ** ce`: that is the perplexity only
# when the cross-entropy is measured in **bits**. Applied to nats it gives a much smaller, flattering
# number. `exp(-ce)` is wrong too: it is the geometric mean of the probabilities, a number below 1.

# %% nbgrader={"grade": false, "grade_id": "perplexity", "locked": false, "solution": true, "schema_version": 3}
def perplexity(ce_nats: float) -> float:
    """Perplexity from a cross-entropy in nats (a float; inf stays inf)."""
    ### BEGIN SOLUTION
    return float(np.exp(ce_nats))
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "perplexity_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.welcome.perplexity(perplexity)
### BEGIN HIDDEN TESTS
for _ce in (0.0, 0.1, 0.5, 1.0, math.log(2), 2.1, 3.0, 7.3, 20.0):
    _got = perplexity(_ce)
    assert np.ndim(_got) == 0, f"return one number, got shape {np.shape(_got)}"
    assert math.isclose(float(_got), math.exp(_ce), rel_tol=1e-9), \
        f"ce={_ce} nats: expected perplexity {math.exp(_ce):.6g}, got {float(_got):.6g}"
for _n in (2, 48, 50257):
    assert math.isclose(float(perplexity(math.log(_n))), _n, rel_tol=1e-9), f"uniform over {_n} tokens"
assert math.isclose(float(perplexity(np.float64(1.5))), math.exp(1.5), rel_tol=1e-9), "np.float64 input"
assert math.isclose(float(perplexity(1)), math.e, rel_tol=1e-9), "integer input 1 -> e"
assert float(perplexity(math.inf)) == math.inf, "an infinite cross-entropy has infinite perplexity"
### END HIDDEN TESTS

# %% [markdown]
# **How much smoothing?** Smoothing matters most when data is scarce. The next cell trains bigram
# models on the first 1,000, 10,000 and 100,000 characters and on the whole training split, and plots
# their validation perplexity against `alpha` (the star marks each curve's best value; the dashed line
# is the uniform guess, perplexity 48<!--const: the vocabulary size-->).

# %%
alphas = np.logspace(-3, 1.5, size(19, 7))  # (n_alpha,)
train_sizes = [1_000, 10_000, 100_000, len(train_ids)]
curves = {}
for n_chars in train_sizes:
    c = bigram_counts(train_ids[:n_chars], V)  # (V, V)
    curves[f"{n_chars:,} training characters"] = [perplexity(cross_entropy(bigram_probs(c, a), val_ids))
                                                   for a in alphas]
    unsmoothed = perplexity(cross_entropy(bigram_probs(c, 0.0), val_ids))
    print(f"{n_chars:>9,} characters: alpha=0 gives validation perplexity {unsmoothed}")
fig = plot.perplexity_vs_alpha(alphas, curves, baseline=V, title="bigram model: validation perplexity")

# %% [markdown]
# Three things to read off the plot:
# - Trained on up to 100,000 characters, the unsmoothed model scores **infinite** perplexity: the
#   validation text contains pairs it never saw. A tiny alpha makes the number finite, but with 1,000
#   characters `alpha = 0.001` is still far worse than the best alpha, because it leaves unseen pairs
#   almost no probability.
# - Too much smoothing drags every row toward the uniform guess, so each curve rises again on the
#   right; the less data, the earlier and steeper the rise.
# - With the whole training split every validation pair has been seen, so alpha barely matters. The
#   remaining perplexity, about 8.4<!--= min(curves[f"{len(train_ids):,} training characters"]) ~1% -->, is the price of looking at one character only: more data does
#   not fix that, only a longer context does.

# %% [markdown]
# ### 3.3 Interview questions (2 points)
#
# Set the four variables below to numbers (an expression such as `math.log(48)` is fine; if you type
# a decimal, give at least four significant digits). Use `math.inf` for infinity.
#
# 1. `uniform_perplexity`: a model ignores the context and gives each of our `V = 48` tokens the same
#    probability. What is its perplexity on any text?
# 2. `uniform_cross_entropy`: the same model's cross-entropy, in nats per token.
# 3. `perplexity_from_bits`: a paper reports a cross-entropy of 1.5 **bits** per character. What
#    perplexity per character is that?
# 4. `perplexity_with_one_zero`: on a validation text of 10,001 tokens (10,000 predictions), a model
#    gives probability 0.5 to 9,999 of the actual next tokens and probability 0 to the remaining one.
#    What is its perplexity?

# %% nbgrader={"grade": false, "grade_id": "interview", "locked": false, "solution": true, "schema_version": 3}
# uniform_perplexity = ...
# uniform_cross_entropy = ...
# perplexity_from_bits = ...
# perplexity_with_one_zero = ...
### BEGIN SOLUTION
uniform_perplexity = 48.0
uniform_cross_entropy = math.log(48)
perplexity_from_bits = 2 ** 1.5
perplexity_with_one_zero = math.inf
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "interview_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.welcome.interview_answers(uniform_perplexity, uniform_cross_entropy, perplexity_from_bits,
                                 perplexity_with_one_zero)
### BEGIN HIDDEN TESTS
assert math.isclose(float(uniform_perplexity), 48.0, rel_tol=1e-3), "uniform over V tokens: perplexity V"
assert math.isclose(float(uniform_cross_entropy), math.log(48), rel_tol=1e-3), \
    "uniform cross-entropy is ln(48) nats (log2(48) would be bits)"
assert math.isclose(float(perplexity_from_bits), 2 ** 1.5, rel_tol=1e-3), \
    "1.5 bits per character is a perplexity of 2**1.5 (e**1.5 treats bits as nats)"
assert float(perplexity_with_one_zero) == math.inf, "one probability of 0 makes the cross-entropy infinite"
### END HIDDEN TESTS

# %% [markdown]
# ## 4 Generating text
#
# A language model writes by predicting repeatedly: take the row of the current token, pick a next
# token from it, append it, and continue from there. How to *pick* is called the decoding strategy.
# This module compares the two basic ones; module 04 adds temperature, top-k and top-p.
#
# ### 4.1 Greedy continuation (2 points)
#
# **Greedy** decoding always takes the most likely next token. Write `greedy_continue(probs,
# start_id, n)` returning the `n` new token ids (not including `start_id`). On a tie take the smallest
# id, which is what `np.argmax` does.
#
# Popular wrong answers: taking the argmax of the **start** row `n` times instead of moving on to the
# token just chosen; looking up the column `probs[:, cur]` instead of the row; returning `n + 1`
# tokens with the start token in front.

# %% nbgrader={"grade": false, "grade_id": "greedy_continue", "locked": false, "solution": true, "schema_version": 3}
def greedy_continue(probs: np.ndarray, start_id: int, n: int) -> np.ndarray:
    """Greedy decoding from a bigram model.

    probs: (V, V) row-stochastic matrix, probs[a, b] = P(next = b | previous = a).
    start_id: the token to continue from. n: how many new tokens to produce (n >= 0).
    Returns an (n,) integer array of the new tokens; each is the argmax of the previous token's row.
    """
    ### BEGIN SOLUTION
    out = np.empty(n, dtype=np.int64)  # (n,)
    cur = int(start_id)
    for i in range(n):
        cur = int(np.argmax(probs[cur]))  # the most likely token after cur
        out[i] = cur
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "greedy_continue_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.welcome.greedy_continue(greedy_continue)
### BEGIN HIDDEN TESTS
def _loop_greedy(p, s, n):
    out, cur = [], int(s)
    for _ in range(n):
        cur = int(np.argmax(p[cur]))
        out.append(cur)
    return np.array(out, dtype=np.int64)


_rng = np.random.default_rng(400)
for _V in (2, 5, 48):
    _p = _rng.dirichlet(np.ones(_V), size=_V)  # (V, V), no ties
    for _n in (0, 1, 7, 60):
        _start = int(_rng.integers(0, _V))
        _before = _p.copy()
        _got = greedy_continue(_p, _start, _n)
        _want = _loop_greedy(_p, _start, _n)
        assert isinstance(_got, np.ndarray), f"return a NumPy array, got {type(_got).__name__}"
        assert _got.shape == (_n,), f"V={_V}, n={_n}: expected shape {(_n,)}, got {_got.shape}"
        assert _got.dtype.kind in "iu", f"token ids must be integers, got dtype {_got.dtype}"
        assert np.array_equal(_got, _want), f"V={_V}, n={_n}, start={_start}: expected {_want}, got {_got}"
        assert np.array_equal(_p, _before), "greedy_continue modified probs"
# a chain 0 -> 1 -> 2 -> 3 -> 0 whose columns point elsewhere
_p = np.array([[0.1, 0.6, 0.2, 0.1],
               [0.1, 0.1, 0.7, 0.1],
               [0.1, 0.1, 0.1, 0.7],
               [0.9, 0.05, 0.03, 0.02]])
assert np.array_equal(greedy_continue(_p, 0, 6), [1, 2, 3, 0, 1, 2]), "follow the token just chosen, by row"
assert np.array_equal(greedy_continue(_p, np.int64(2), 2), [3, 0]), "start_id given as np.int64"
# ties go to the smallest id
assert np.array_equal(greedy_continue(np.full((3, 3), 1 / 3), 2, 3), [0, 0, 0]), "ties: smallest id"
### END HIDDEN TESTS

# %% [markdown]
# Let the model complete a few beginnings greedily:

# %%
for prompt in ["t", "a", "add 47+38=", "copy kqzvt>"]:
    new = greedy_continue(probs, tok.encode(prompt)[-1], 40)  # (40,)
    print(f"{prompt!r:>14} -> {tok.decode(new)!r}")

# %% [markdown]
# Greedy decoding from a bigram model falls into a loop within a few characters: the most likely
# character after `e` is a space, after a space `t`, after `t` `h`, after `h` `e`... and it goes
# round for ever. The tasks fail too. After `=` the model can only say which digit usually follows
# `=`; it has no idea which numbers were added, because it sees one character. Attention, in the next
# modules, is the mechanism that lets every position look back at the whole prefix.
#
# ### 4.2 Sampled continuation (3 points)
#
# **Sampling** draws each next token at random *from* the row: a token with probability 0.3 is chosen
# 30%<!--const: the 0.3 above--> of the time. Write `sample_continue(probs, start_id, n, rng)` returning the `n` new token ids.
#
# Use the generator `rng` you are given (a `np.random.Generator`, made with
# `np.random.default_rng(seed)`) for every random draw, never the global `np.random.*` functions. Then
# the same seed always reproduces the same text, and two parts of a program that each hold their own
# generator cannot disturb each other.
#
# Any correct way of sampling is accepted, for example `rng.choice(V, p=row)`, or drawing
# `u = rng.random()` and finding where `u` falls in the cumulative sum of the row
# (`np.searchsorted(np.cumsum(row), u, side="right")`). Different methods give different sequences for
# the same seed, so the tests check the *distribution* (how often each transition happens over many
# draws) and reproducibility, never one exact sequence.
#
# Popular wrong answers: always sampling from the **start** row; taking the argmax (that is greedy);
# `np.random.choice` (the global generator: the output no longer depends on `rng`, and the same seed
# gives different text); `rng.integers(V)`, which ignores the probabilities altogether.

# %% nbgrader={"grade": false, "grade_id": "sample_continue", "locked": false, "solution": true, "schema_version": 3}
def sample_continue(probs: np.ndarray, start_id: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Ancestral sampling from a bigram model.

    probs: (V, V) row-stochastic matrix, probs[a, b] = P(next = b | previous = a).
    start_id: the token to continue from. n: how many new tokens to produce (n >= 0).
    rng: the random generator to draw from (the only source of randomness).
    Returns an (n,) integer array; token i is drawn from the row of token i - 1 (of start_id for i = 0).
    """
    ### BEGIN SOLUTION
    V = probs.shape[0]
    out = np.empty(n, dtype=np.int64)  # (n,)
    cur = int(start_id)
    for i in range(n):
        cur = int(rng.choice(V, p=probs[cur]))  # one draw from the row of the current token
        out[i] = cur
    return out
    ### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "sample_continue_test", "locked": true, "points": 3, "solution": false, "schema_version": 3}
checks.welcome.sample_continue(sample_continue)
### BEGIN HIDDEN TESTS
def _transitions(start, seq, n_tokens):
    path = np.concatenate([[start], seq]).astype(np.int64)
    c = np.zeros((n_tokens, n_tokens), dtype=np.int64)
    np.add.at(c, (path[:-1], path[1:]), 1)
    return c


_P = np.array([[0.0, 0.5, 0.5, 0.0],
               [0.1, 0.0, 0.2, 0.7],
               [0.6, 0.3, 0.1, 0.0],
               [0.25, 0.25, 0.25, 0.25]])
_N = 20_000
_before = _P.copy()
_seq = sample_continue(_P, 0, _N, np.random.default_rng(1234))
assert np.array_equal(_P, _before), "sample_continue modified probs"
assert isinstance(_seq, np.ndarray) and _seq.shape == (_N,), f"expected an array of shape {(_N,)}"
assert _seq.dtype.kind in "iu", f"token ids must be integers, got dtype {_seq.dtype}"
assert _seq.min() >= 0 and _seq.max() < 4, "token ids out of range"
_c = _transitions(0, _seq, 4)
assert _c[_P == 0].sum() == 0, f"sampled transitions that have probability 0:\n{_c}"
_rows = _c.sum(axis=1)  # (4,) visits of each token (about 5,000 each for this chain)
assert (_rows > 2_000).all(), f"the chain should visit every token often; visits per token {_rows}"
_freq = _c / _rows[:, None]
# 5 standard errors of a binomial proportion: any correct sampler passes, the result is fixed by the seed
_tol = 5 * np.sqrt(_P * (1 - _P) / _rows[:, None]) + 1e-3
assert (np.abs(_freq - _P) <= _tol).all(), \
    f"transition frequencies do not match the rows:\nexpected\n{_P}\ngot\n{np.round(_freq, 3)}"
# reproducible from rng alone, whatever the global NumPy state
_state = np.random.get_state()
np.random.seed(0)
_a = sample_continue(_P, 3, 300, np.random.default_rng(5))
np.random.seed(1)
_b = sample_continue(_P, 3, 300, np.random.default_rng(5))
assert np.array_equal(_a, _b), "the same rng seed must give the same tokens (use rng, not np.random)"
np.random.seed(2)
_a = sample_continue(_P, 3, 300, np.random.default_rng(6))
np.random.seed(2)
_b = sample_continue(_P, 3, 300, np.random.default_rng(7))
assert not np.array_equal(_a, _b), "different rng seeds gave the same tokens: draw from rng"
np.random.set_state(_state)
# one-hot rows leave no choice, from any start; n = 0 is empty
_cycle = np.eye(5)[[3, 0, 4, 1, 2]]  # 0->3->1->0, 2->4->2
assert np.array_equal(sample_continue(_cycle, 2, 5, np.random.default_rng(0)), [4, 2, 4, 2, 4])
assert np.array_equal(sample_continue(_cycle, np.int64(1), 4, np.random.default_rng(1)), [0, 3, 1, 0])
assert sample_continue(_cycle, 0, 0, np.random.default_rng(0)).shape == (0,), "n=0 must give shape (0,)"
### END HIDDEN TESTS

# %% [markdown]
# Sample a few lines from the model, starting after a newline. The seed makes the output repeatable:
# run the cell twice and you get the same text; change the seed and you get new text.

# %%
rng = np.random.default_rng(0)
newline = tok.encode("\n")[0]
sample = sample_continue(probs, newline, size(400, 120), rng)  # (n,)
print(tok.decode(sample))

# %% [markdown]
# Unlike greedy decoding, sampling never gets stuck in one loop, and the text has the right *local*
# texture: plausible letter pairs, spaces between word-like chunks, `add` lines full of digits. But
# no word survives more than a couple of letters, because the model remembers a single character.
#
# Is the sampler faithful to the model? Generate a long sequence and compare how often each character
# followed a space with the model's probabilities for the row of the space:

# %%
long = sample_continue(probs, newline, size(30_000, 3_000), np.random.default_rng(1))  # (n,)
space = tok.encode(" ")[0]
after_space = long[1:][long[:-1] == space]  # every token that follows a space
freqs = np.bincount(after_space, minlength=V) / len(after_space)  # (V,)
fig = plot.next_token_bars(probs[space], freqs, tok.vocab,
                           title=f"what follows a space: model vs {len(after_space):,} samples")

# %% [markdown]
# ## 5 Quiz
#
# Practice questions on this module, not graded. Pick an answer and press *Check* to see whether it is
# right and why each option is right or wrong.

# %%
quiz.show("00_welcome")

# %% [markdown]
# ## Summary
#
# - A language model maps a prefix to a probability distribution over the next token; the chain rule
#   turns those distributions into the probability of a whole text.
# - A bigram model is a `(V, V)` table estimated by counting (previous, next) pairs, one row per
#   previous token. Without smoothing, unseen pairs get probability 0; add-alpha smoothing fixes that,
#   and matters most when data is scarce.
# - Cross-entropy is the mean negative log-probability of the actual next tokens: in nats with `ln`,
#   in bits with `log2`. A single zero probability on the path makes it infinite, and hiding that with
#   an epsilon only hides a bug.
# - Perplexity is `exp(cross-entropy in nats)` (or `2 ** (cross-entropy in bits)`): the effective
#   number of choices per token. A uniform guess over `V` tokens scores `V`; our bigram model about 8.4<!--= min(curves[f"{len(train_ids):,} training characters"]) ~1% -->.
# - Greedy decoding is deterministic and loops; sampling follows the distribution and, with a seeded
#   `np.random.Generator`, is exactly reproducible.
#
# ## Going further
#
# - **Longer contexts by counting.** A trigram model keeps a `(V, V, V)` table, an n-gram model `V**n`
#   entries, most of them never observed. Look up back-off and Kneser-Ney smoothing to see how n-gram
#   models coped before neural networks; then notice that a GPT shares statistics across contexts
#   instead of storing one row per context.
# - **Maximum likelihood.** Show that the unsmoothed counts (`alpha = 0`) give the lowest possible
#   *training* cross-entropy of any bigram table (a Lagrange multiplier per row does it), and explain
#   why the lowest training loss is not the lowest validation loss.
# - **Temperature.** Raise every probability in a row to the power `1 / tau` and renormalise before
#   sampling. Try `tau = 0.5` and `tau = 2` on the bigram model: what happens as `tau -> 0`? Module 04
#   builds temperature, top-k and top-p sampling properly.
# - **Compression.** With arithmetic coding, a model with cross-entropy `H` bits per character can
#   compress text to about `H` bits per character. How many bytes would the bigram model need for the
#   validation split, compared with `gzip`?
