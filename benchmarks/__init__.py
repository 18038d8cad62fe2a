"""molediff benchmarks: one runner (``python -m benchmarks.run``) and suites in ``benchmarks/suites``."""
