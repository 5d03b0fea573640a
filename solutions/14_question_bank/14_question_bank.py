# %% [markdown]
# # Module 14 · The interview question bank
#
# This notebook is for drilling. It draws questions from every quiz in the course (the practice quiz at
# the end of each module) and from the interview banks, which cover the topics an interviewer for an
# LLM-inference role tends to ask about: LLM basics, the Transformer's encoder and decoder,
# self-attention, multi-head and masked attention, inference optimisation, distributed training and
# inference, quantization, pruning, compression, low-rank methods, mixed precision and heterogeneous
# compute.
#
# Every question explains **every** option once you answer, including why the wrong ones are tempting:
# the distractors are the answers people actually give in interviews ("heads split the sequence", "mask
# by multiplying the weights by 0 after the softmax", "int8 always makes inference faster", "data
# parallelism splits the model", counting a multiply-add as one FLOP...). Reading why they are wrong is
# half the value of a drill.
#
# **How it works**
# - `quiz.drill("quantization", n=8)` draws 8 questions on one topic; `quiz.drill(n=10)` mixes all topics;
#   `quiz.drill(module="02_multihead")` drills one module's material.
# - Pick an answer and press *Check*. Numbers may carry a unit (`2 GiB`, `7 ms`) or be a small expression
#   (`2*32*4096*128*2`); estimates are accepted within a stated factor.
# - *Spot the bug* questions show a snippet: pick the line that is wrong.
# - Your answers are saved in a small JSON file (`~/.llmcourse/progress.json`, or wherever the environment
#   variable `LLMCOURSE_PROGRESS` points). `quiz.progress()` shows where you stand, module by module and
#   topic by topic; `quiz.review()` asks again exactly the questions you last got wrong.
# - Every question, of the module quizzes and of the interview banks, is in English and in Chinese: prompt,
#   options, explanations and the quiz's own words. Use the English / 中文 switch above a drill; the choice
#   is remembered in your progress file (`quiz.set_language("zh")` does the same).
# - Without widgets (a plain terminal, or a viewer that cannot run them) the same questions print as text,
#   and you answer with `quiz.answer("question-id", "b")`.
#
# The drills are practice and are not graded. Section 3 holds five graded interview questions, answered
# the way nbgrader can check them: as plain Python variables. Points: 6 in total.

# %%
# The terms this module introduces, in English and Chinese (本模块术语, from llmcourse/glossary.json).
from llmcourse import glossary

glossary.show("14_question_bank")

# %%
from llmcourse import checks, quiz

rows = quiz.topics()  # every interview topic, with the number of questions that count towards it

# %% [markdown]
# ## 1 Warm-up: a mixed drill
#
# Ten questions drawn from all banks. Run the cell again for a new draw; pass `seed=...` to get the same
# draw twice (handy when a study group wants to discuss the same questions).

# %%
quiz.drill(n=10)

# %% [markdown]
# ## 2 Drills by topic
#
# One cell per topic, in the order an interview usually goes: from what a language model computes, to the
# architecture, to making it cheap and fast. Each draws eight questions; set `n=None` for all of them.
#
# ### 2.1 LLM basics

# %%
quiz.drill("llm_basics", n=8)

# %% [markdown]
# ### 2.2 The Transformer: encoder, decoder, decoder-only

# %%
quiz.drill("transformer", n=8)

# %% [markdown]
# ### 2.3 Self-attention

# %%
quiz.drill("self_attention", n=8)

# %% [markdown]
# ### 2.4 Multi-head attention (and GQA, MQA)

# %%
quiz.drill("multi_head", n=8)

# %% [markdown]
# ### 2.5 Masked attention

# %%
quiz.drill("masked_attention", n=8)

# %% [markdown]
# ### 2.6 Inference optimisation: KV cache, batching, roofline, speculative decoding

# %%
quiz.drill("inference_optimization", n=8)

# %% [markdown]
# ### 2.7 Distributed training: sharding, synchronous and asynchronous updates, communication, balance

# %%
quiz.drill("distributed_training", n=8)

# %% [markdown]
# ### 2.8 Quantization: fp16, int8, mixed schemes, QAT

# %%
quiz.drill("quantization", n=8)

# %% [markdown]
# ### 2.9 Pruning: thresholds, gradients, importance, structure

# %%
quiz.drill("pruning", n=8)

# %% [markdown]
# ### 2.10 Compression: distillation, parameter sharing, sparsity

# %%
quiz.drill("compression", n=8)

# %% [markdown]
# ### 2.11 Distributed inference

# %%
quiz.drill("distributed_inference", n=8)

# %% [markdown]
# ### 2.12 Low-rank methods: SVD, randomized, iterative, kernel

# %%
quiz.drill("low_rank", n=8)

# %% [markdown]
# ### 2.13 Mixed precision

# %%
quiz.drill("mixed_precision", n=8)

# %% [markdown]
# ### 2.14 Heterogeneous compute: CPU, GPU, offloading, placement

# %%
quiz.drill("heterogeneous_compute", n=8)

# %% [markdown]
# ## 3 Graded interview questions
#
# The autograder cannot see widgets, so a graded answer is a plain variable that you set in an answer cell.
# Above each answer cell a small widget lets you pick or type your answer: it sets the variable for you
# and shows the exact line to put in the answer cell. Only that line counts, because grading restarts the
# notebook and runs it from the top without clicking anything.
#
# None of these questions is in the practice banks, and no feedback is given here: the hidden tests grade
# them. Work them out on paper first; that is how an interview goes.
#
# ### 3.1 KV-cache bytes (2 points)
#
# A model has 24 layers, 16 query heads and 4 key/value heads (grouped-query attention) with `d_head = 64`.
# It serves a batch of 8 sequences of 2048 tokens each and stores its KV cache in bf16. How many **bytes**
# does the whole KV cache take? Set `kv_cache_bytes` to a number (an expression is fine).

# %%
quiz.answer_box("kv_cache_bytes", unit="bytes")

# %% nbgrader={"grade": false, "grade_id": "kv_cache_bytes", "locked": false, "solution": true, "schema_version": 3}
# kv_cache_bytes = ...
### BEGIN SOLUTION
kv_cache_bytes = 2 * 24 * 8 * 2048 * 4 * 64 * 2  # K and V, layers, batch, tokens, kv heads, d_head, bytes
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "kv_cache_bytes_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
checks.question_bank.number("kv_cache_bytes", kv_cache_bytes)
### BEGIN HIDDEN TESTS
_n_layer, _batch, _tokens, _n_kv_head, _d_head, _bytes = 24, 8, 2048, 4, 64, 2
_expected = 2 * _n_layer * _batch * _tokens * _n_kv_head * _d_head * _bytes
_got = float(kv_cache_bytes)
assert abs(_got - _expected * 16 / 4) > 1, "that uses the 16 query heads; the cache holds only the 4 key/value heads"
assert abs(_got - _expected / 2) > 1, "that caches only the keys (or only the values): both are stored"
assert abs(_got - _expected * 2) > 1, "that is 4 bytes per value; bf16 takes 2"
assert abs(_got - _expected) <= 1e-3 * _expected, f"the KV cache takes {_expected:,} bytes, not {_got:,.0f}"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.2 How heads divide the work (1 point)
#
# Multi-head attention with `n_head` heads splits which axis of the activations `x` of shape `(B, T, C)`
# between the heads?
#
# - (a) the sequence axis: each head gets `T / n_head` consecutive tokens
# - (b) the feature axis: each head gets `d_head = C / n_head` features of every token
# - (c) the batch axis: each head gets `B / n_head` sequences
# - (d) none: every head sees all `C` features, and the heads differ only by their random initialisation
#
# Set `heads_axis` to one letter.

# %%
quiz.answer_box("heads_axis", ["sequence axis", "feature axis", "batch axis", "none: all C features, different init"],
               choices_zh=["序列轴", "特征轴", "批次轴", "都不是：每个头看全部 C 个特征，只是初始化不同"])

# %% nbgrader={"grade": false, "grade_id": "heads_axis", "locked": false, "solution": true, "schema_version": 3}
# heads_axis = "..."
### BEGIN SOLUTION
heads_axis = "b"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "heads_axis_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.question_bank.choice("heads_axis", heads_axis, "abcd")
### BEGIN HIDDEN TESTS
_picked = str(heads_axis).strip().lower()
assert _picked != "a", "heads never split the sequence: every head attends over all T tokens"
assert _picked == "b", "each head takes a d_head = C / n_head slice of the features of every token"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.3 What int8 weights buy (1 point)
#
# A decoder-only model's weights are quantized from fp16 to int8 (weight-only: activations stay fp16 and
# each matmul dequantises the weights). Which statements are true? Select all that apply.
#
# - (a) At batch size 1, decode time can drop by up to about half, because decoding is limited by reading
#   the weights from memory.
# - (b) Every phase of inference gets about 2x faster, because the weights take half the bytes.
# - (c) At a large batch the matmuls are limited by compute and still run in fp16, so the gain mostly
#   disappears (dequantisation can even make them slower).
# - (d) The model needs twice the memory bandwidth, because each weight must be read and then dequantised.
#
# Set `int8_true` to the letters of every true statement, for example `"ad"`.

# %%
quiz.answer_box("int8_true", ["batch 1: up to ~2x faster decode", "2x faster everywhere",
                              "large batch: gain mostly gone", "needs twice the bandwidth"], multiple=True,
               choices_zh=["批大小为 1：解码最多快约 2 倍", "所有阶段都快 2 倍", "大批量：收益基本消失", "需要两倍的内存带宽"])

# %% nbgrader={"grade": false, "grade_id": "int8_true", "locked": false, "solution": true, "schema_version": 3}
# int8_true = "..."
### BEGIN SOLUTION
int8_true = "ac"
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "int8_true_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.question_bank.choices("int8_true", int8_true, "abcd")
### BEGIN HIDDEN TESTS
_letters = {c for c in "".join(int8_true).lower() if c.isalpha()}
assert "b" not in _letters, "int8 does not speed up every phase: compute-bound phases gain little or nothing"
assert "d" not in _letters, "int8 weights halve the bytes read; dequantisation is compute, not bandwidth"
assert _letters == {"a", "c"}, "the true statements are the memory-bound gain at batch 1 and its loss at large batch"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.4 Spot the bug in a KV-cache decode step (1 point)
#
# One decoding step of single-head attention with a KV cache. It runs without error and every shape is
# right, but the outputs drift away from a full recomputation. Which line is wrong?
#
# ```python
# 1  def decode_step(x_new, cache_k, cache_v, Wq, Wk, Wv):   # x_new (1, C); caches (t, C)
# 2      q = x_new @ Wq                                        # (1, C)
# 3      k = x_new @ Wk                                        # (1, C)
# 4      v = x_new @ Wv                                        # (1, C)
# 5      cache_k = np.concatenate([cache_k, k])                # (t + 1, C)
# 6      cache_v = np.concatenate([cache_v, k])                # (t + 1, C)
# 7      w = softmax(q @ cache_k.T / np.sqrt(C))               # (1, t + 1)
# 8      return w @ cache_v, cache_k, cache_v                  # (1, C), updated caches
# ```
#
# Set `bug_line` to the line number.

# %%
quiz.answer_box("bug_line", unit="")

# %% nbgrader={"grade": false, "grade_id": "bug_line", "locked": false, "solution": true, "schema_version": 3}
# bug_line = ...
### BEGIN SOLUTION
bug_line = 6
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "bug_line_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.question_bank.line_number("bug_line", bug_line, 8)
### BEGIN HIDDEN TESTS
_line = int(str(bug_line).strip())
assert _line != 7, "line 7 reads the cache after appending the new key, which is right: a token attends to itself"
assert _line != 5, "line 5 appends the new key to the key cache, as it should"
assert _line == 6, "line 6 appends the key k to the value cache; it must append v"
### END HIDDEN TESTS

# %% [markdown]
# ### 3.5 FLOPs per generated token (1 point)
#
# A dense decoder with 1.3 billion parameters generates one token. Ignoring attention over the context,
# how many floating-point operations does that take? Count a multiply-add as two operations, as FLOP/s
# figures of hardware do. Set `decode_flops` to a number.

# %%
quiz.answer_box("decode_flops", unit="FLOP")

# %% nbgrader={"grade": false, "grade_id": "decode_flops", "locked": false, "solution": true, "schema_version": 3}
# decode_flops = ...
### BEGIN SOLUTION
decode_flops = 2 * 1.3e9
### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "decode_flops_test", "locked": true, "points": 1, "solution": false, "schema_version": 3}
checks.question_bank.number("decode_flops", decode_flops)
### BEGIN HIDDEN TESTS
_n_params = 1.3e9
_got = float(decode_flops)
assert abs(_got / _n_params - 1) > 0.01, "that counts a multiply-add as one FLOP; it is two operations"
assert abs(_got / (6 * _n_params) - 1) > 0.01, "6 N is the training cost per token (forward and backward)"
assert abs(_got / (2 * _n_params) - 1) <= 0.01, f"one token costs about 2 N = {2 * _n_params:.3g} FLOPs"
### END HIDDEN TESTS

# %% [markdown]
# ## 4 Review your mistakes
#
# Every question you answered wrong last time, from any notebook of the course. Answer it right and it
# leaves the list.

# %%
quiz.review()

# %% [markdown]
# ## 5 Where you stand
#
# One row per module and per topic: how many questions exist, how many you have answered, how many you got
# right at your latest try and at your first, and how many wait for review.

# %%
quiz.progress()

# %% [markdown]
# ## Summary
#
# - Drill by topic with `quiz.drill("topic")`, mixed with `quiz.drill()`, by module with
#   `quiz.drill(module="NN_slug")`, and only your mistakes with `quiz.review()`.
# - Your progress lives in one small JSON file; `quiz.progress()` reads it. Delete the file to start over.
# - The explanations matter more than the score: each wrong option is a real answer someone gave, and knowing
#   why it is wrong is what an interviewer listens for.
# - Graded answers are plain variables, because nbgrader runs the notebook without widgets; a widget may
#   help you write them, but the line in the answer cell is what counts.
#
# ## Going further
#
# - **Write your own questions.** A bank is a JSON file (`llmcourse/quizbank/topics/<topic>.json`); the
#   format is described at the top of `llmcourse/quiz.py`. A numeric question names a formula in its
#   `compute` field, and the course's tests recompute the answer from it, so a wrong answer key fails CI.
# - **Explain out loud.** For each drill question, say the answer and one sentence of why before you press
#   *Check*: in an interview the reasoning is what gets graded.
# - **Estimate before you compute.** For cost questions, write the formula, then the order of magnitude,
#   then the exact number. Modules 06 and 12 build the full cost models behind these estimates.
