"""Course benchmarks (`make bench`): each benchmarks/bench_*.py module has `run(quick: bool) -> list[dict]`.

Every record is {"name", "value", "unit", "baseline", "ratio", "limit", "pct_of_limit"}: `ratio` is a
speed-up measured side by side in the same run (median of interleaved repeats, see llmcourse.bench), and
`limit` / `pct_of_limit` put the number next to the physical limit it is bounded by, when there is one.
"""
