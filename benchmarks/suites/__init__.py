"""Benchmark suites. Each module exposes ``run(quick: bool) -> dict`` returning at least a
``"table"`` entry (a markdown string) plus any numbers worth keeping in the JSON result."""
