"""Command-line entry points: the Hydra mains (train, sample, evaluate), the sweep
collector and the friendly ``molediff`` dispatcher."""
