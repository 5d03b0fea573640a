"""Mutants of 14_question_bank: the popular wrong interview answers, and other ways to write the right ones."""

WRONG = {
    "kv_cache_bytes": {
        "query_heads": "kv_cache_bytes = 2 * 24 * 8 * 2048 * 16 * 64 * 2\n",
        "keys_only": "kv_cache_bytes = 24 * 8 * 2048 * 4 * 64 * 2\n",
        "fp32": "kv_cache_bytes = 2 * 24 * 8 * 2048 * 4 * 64 * 4\n",
        "one_sequence": "kv_cache_bytes = 2 * 24 * 2048 * 4 * 64 * 2\n",
        "as_text": "kv_cache_bytes = '384 MiB'\n",
    },
    "heads_axis": {
        "sequence": "heads_axis = 'a'\n",
        "batch": "heads_axis = 'c'\n",
        "two_letters": "heads_axis = 'ab'\n",
    },
    "int8_true": {
        "always_faster": "int8_true = 'abc'\n",
        "only_batch_one": "int8_true = 'a'\n",
        "bandwidth": "int8_true = 'acd'\n",
    },
    "bug_line": {
        "key_append": "bug_line = 5\n",
        "scores": "bug_line = 7\n",
        "zero_based": "bug_line = 5  # counted from 0\n",
        "out_of_range": "bug_line = 9\n",
    },
    "decode_flops": {
        "mac_as_one_flop": "decode_flops = 1.3e9\n",
        "training_cost": "decode_flops = 6 * 1.3e9\n",
        "negative": "decode_flops = -2.6e9\n",
    },
}

RIGHT = {
    "kv_cache_bytes": {
        "literal": "kv_cache_bytes = 402_653_184\n",
        "float": "kv_cache_bytes = 402653184.0\n",
        "mib": "kv_cache_bytes = 384 * 2**20\n",
        "numpy": "import numpy as np\nkv_cache_bytes = np.int64(402653184)\n",
    },
    "heads_axis": {
        "upper_case": "heads_axis = 'B'\n",
        "spaces": "heads_axis = ' b '\n",
    },
    "int8_true": {
        "reversed": "int8_true = 'ca'\n",
        "set": "int8_true = {'a', 'c'}\n",
        "list_upper": "int8_true = ['A', 'C']\n",
    },
    "bug_line": {
        "string": "bug_line = '6'\n",
        "numpy": "import numpy as np\nbug_line = np.int64(6)\n",
    },
    "decode_flops": {
        "literal": "decode_flops = 2_600_000_000\n",
        "rounded": "decode_flops = 2.6e9\n",
    },
}
