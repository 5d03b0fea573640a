"""Mutants for 13_capstone: plausible wrong answers and cheats (must fail) and correct alternatives (must pass)."""

_COMPRESS_HEAD = '''
def compress(config, params):
    def int8_along(w, axis):
        s = (np.abs(w).max(axis, keepdims=True) / 127).astype(np.float16)
        s[s == 0] = 1.0
        return np.clip(np.round(w / s.astype(np.float32)), -127, 127).astype(np.int8), s.reshape(-1)
'''

_COMPRESS_TAIL = '''
    out = {"manifest": capstone.make_manifest(config, scheme="mutant")}
    for name, a in params.items():
        if name.startswith("blocks.") and a.ndim == 2:
            out[name + ".q4"], out[name + ".s"] = int4_per_column(a)
        elif name in ("tok_emb", "pos_emb"):
            out[name + ".q8"], out[name + ".s"] = int8_along(a, 1)
        elif name == "head.w":
            out[name + ".q8"], out[name + ".s"] = int8_along(a, 0)
        else:
            out[name] = np.array(a, dtype=np.float32)
    return out
'''

_INT4 = '''
    def int4_per_column(w):
        s = (np.abs(w).max(0) / 7).astype(np.float16)
        s[s == 0] = 1.0
        q = (np.clip(np.round(w / s.astype(np.float32)), -8, 7).astype(np.int16) + 8).astype(np.uint8)
        return q[:, 0::2] | (q[:, 1::2] << 4), s
'''

_FORWARD_BODY = '''
    lo, hi = np.meshgrid(np.arange(16), np.arange(16), indexing="xy")
    lut = (np.stack([lo, hi], -1).reshape(256, 2) - 8).astype(np.float32)
    cfg = capstone.read_manifest(c)["config"]
    B, T = ids.shape
    H, C, eps = cfg["n_head"], cfg["d_model"], cfg["ln_eps"]
    D = C // H

    def ln(x, name):
        mu = x.mean(-1, keepdims=True)
        xc = x - mu
        return xc / np.sqrt((xc * xc).mean(-1, keepdims=True) + eps) * c[name + ".weight"] + c[name + ".bias"]

    def embed(name, rows):
        return c[name + ".q8"][rows] * c[name + ".s"][rows].astype(np.float32)[..., None]

    x = embed("tok_emb", ids) + embed("pos_emb", np.arange(T))
    future = np.triu(np.ones((T, T), dtype=bool), 1)
    for i in range(cfg["n_layer"]):
        b = f"blocks.{i}."
        qkv = linear(ln(x, b + "ln1"), b + "attn.w_qkv") + c[b + "attn.b_qkv"]
        qkv = qkv.reshape(B, T, 3, H, D).transpose(2, 0, 3, 1, 4)
        s = qkv[0] @ qkv[1].transpose(0, 1, 3, 2) * np.float32(1 / math.sqrt(D))
        s[..., future] = -np.inf
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        y = (s @ qkv[2]).transpose(0, 2, 1, 3).reshape(B, T, C)
        x = x + linear(y, b + "attn.w_out") + c[b + "attn.b_out"]
        u = linear(ln(x, b + "ln2"), b + "mlp.w_in") + c[b + "mlp.b_in"]
        u = 0.5 * u * (1 + np.tanh(np.float32(math.sqrt(2 / math.pi)) * (u + np.float32(0.044715) * u * u * u)))
        x = x + linear(u, b + "mlp.w_out") + c[b + "mlp.b_out"]
    h = ln(x, "ln_f")
    return ((h @ c["head.w.q8"].astype(np.float32)) * c["head.w.s"].astype(np.float32) + c["head.b"]).astype(np.float32)
'''

_JUST_TAIL = '''
I chose int4 codes per output column because module 07 showed that four bits barely move this model's
perplexity, and group scales would only add bytes. The embeddings and the head stay in int8. Next I would
prune FFN neurons with a short distillation run to cut arithmetic and make the forward faster than fp32,
and try three bits on the least sensitive matrices.
"""
'''

WRONG = {
    "compress": {
        "int2_over_budget": _COMPRESS_HEAD + '''
    def int4_per_column(w):  # really two bits: codes -2..1 stored in the int4 layout
        s = (np.abs(w).max(0) / 1.5).astype(np.float16)
        s[s == 0] = 1.0
        q = (np.clip(np.round(w / s.astype(np.float32)), -2, 1).astype(np.int16) + 8).astype(np.uint8)
        return q[:, 0::2] | (q[:, 1::2] << 4), s
''' + _COMPRESS_TAIL,
        "dict_subclass_hides_scales": _COMPRESS_HEAD + _INT4 + '''
    class Lean(dict):  # the byte count sees only the codes
        def items(self):
            return [(k, v) for k, v in dict.items(self) if not k.endswith(".s")]
''' + _COMPRESS_TAIL.replace('out = {"manifest"', 'out = Lean({"manifest"').replace(
            'scheme="mutant")}', 'scheme="mutant")})'),
        "float64_scales": _COMPRESS_HEAD + '''
    def int4_per_column(w):
        s = np.abs(w).max(0).astype(np.float64) / 7
        s[s == 0] = 1.0
        q = (np.clip(np.round(w / s), -8, 7).astype(np.int16) + 8).astype(np.uint8)
        return q[:, 0::2] | (q[:, 1::2] << 4), s
''' + _COMPRESS_TAIL,
        "quantizes_params_in_place": _COMPRESS_HEAD + _INT4 + _COMPRESS_TAIL.replace(
            "    return out", "    for a in params.values():\n        a[...] = np.round(a * 64) / 64\n    return out"),
    },
    "forward": {
        "dequantize_once_and_cache": '''
_FP32_CACHE = {}


def forward(compressed, ids):
    c = compressed
    def linear(x, name):
        key = (id(c), name)
        if key not in _FP32_CACHE:
            q = c[name + ".q4"]
            w = np.take(lut, q, axis=0).reshape(q.shape[0], -1) * c[name + ".s"].astype(np.float32)
            _FP32_CACHE[key] = w
        return x @ _FP32_CACHE[key]
''' + _FORWARD_BODY,
        "uses_the_fp32_params": '''
def forward(compressed, ids):
    capstone.read_manifest(compressed)
    return capstone.fp32_forward(config, params, ids)
''',
        "reads_the_checkpoint_file": '''
def forward(compressed, ids):
    from llmcourse.model import load_numpy
    cfg, p = load_numpy()
    return capstone.fp32_forward(cfg, p, ids)
''',
        "forgets_the_scales": '''
def forward(compressed, ids):
    c = compressed
    def linear(x, name):
        q = c[name + ".q4"]
        return x @ np.take(lut, q, axis=0).reshape(q.shape[0], -1) * np.float32(0.01)
''' + _FORWARD_BODY,
    },
    "justification": {
        "bytes_without_scales": '''
justification = f"""
Counting the int4 codes of the block matrices and the int8 embeddings, the model is
{100 * sum(a.nbytes for k, a in mine['compressed'].items() if k.endswith(('.q4', '.q8'))) / FP32_BYTES:.2f} % of fp32.
On held-out text its perplexity is {mine['model']['perplexity']:.4f}, a ratio of {mine['ppl_ratio']:.4f}, and its mean
task accuracy is {100 * mine['model']['task_mean']:.1f} %. It runs at {mine_speed:.2f}x the fp32 PyTorch reference.
''' + _JUST_TAIL,
        "training_text_perplexity": '''
from llmcourse.data import load_corpus as _load_corpus
_train = _load_corpus("train")[:N_CHARS]
_train_ppl = capstone.perplexity(lambda ids: forward(mine["compressed"], ids), _train, 128)
_fp32_train = capstone.perplexity(lambda ids: capstone.fp32_forward(config, params, ids), _train, 128)
justification = f"""
Counted with scales, names and the manifest, the model is {100 * mine['bytes_ratio']:.2f} % of the fp32 checkpoint.
Its perplexity is {_train_ppl:.4f}, a ratio of {_train_ppl / _fp32_train:.4f} to fp32, and its mean task
accuracy is {100 * mine['model']['task_mean']:.1f} %. It runs at {mine_speed:.2f}x the fp32 PyTorch reference.
''' + _JUST_TAIL,
        "numbers_without_reasons": '''
justification = f"{100 * mine['bytes_ratio']:.2f} % {mine['model']['perplexity']:.4f} {mine['ppl_ratio']:.4f} "
justification += f"{100 * mine['model']['task_mean']:.1f} % {mine_speed:.2f}x"
''',
    },
}

RIGHT = {
    "compress": {
        "fp32_scales_and_rint": _COMPRESS_HEAD + '''
    def int4_per_column(w):
        s = np.abs(w).max(0) / 7
        s[s == 0] = 1.0
        q = (np.clip(np.rint(w / s), -8, 7) + 8).astype(np.uint8)
        return q[:, 0::2] + 16 * q[:, 1::2], s.astype(np.float32)
''' + _COMPRESS_TAIL,
    },
    "forward": {
        "nibbles_and_scaled_weights": '''
def forward(compressed, ids):
    c = compressed
    lut = None
    def linear(x, name):
        q = c[name + ".q4"]
        w = np.empty((q.shape[0], 2 * q.shape[1]), dtype=np.float32)
        w[:, 0::2] = (q & 15).astype(np.float32) - 8
        w[:, 1::2] = (q >> 4).astype(np.float32) - 8
        return x @ (w * c[name + ".s"].astype(np.float32))
''' + _FORWARD_BODY.replace(
            '    lo, hi = np.meshgrid(np.arange(16), np.arange(16), indexing="xy")\n'
            '    lut = (np.stack([lo, hi], -1).reshape(256, 2) - 8).astype(np.float32)\n', ""),
    },
    "justification": {
        "fractions_instead_of_percent": '''
justification = f"""
My compressed model keeps every block matrix in int4 (one fp16 scale per output column, two codes per byte)
and the embeddings and head in int8. Stored bytes are {mine['bytes_ratio']:.4f} of the fp32 checkpoint, all
arrays counted. Held-out perplexity: {mine['model']['perplexity']:.4f} ({mine['ppl_ratio']:.4f} of fp32).
Mean exact task accuracy: {mine['model']['task_mean']:.3f}. Speed: {mine_speed:.2f} times the fp32 forward.
''' + _JUST_TAIL,
    },
}
