WRONG = {"f": {"plus_two": "def f(x):\n    return x + 2\n", "broken": "def f(x):\n    return x +\n"}}
RIGHT = {"f": {"plus_one_float": "def f(x):\n    return x + 1.0\n"}}
