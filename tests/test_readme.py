"""The README's Python example is executable documentation: run it."""

import re
from pathlib import Path

import torch


def test_readme_python_blocks_run():
    text = (Path(__file__).parents[1] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert blocks, "README has no python example"
    scope: dict = {}
    for block in blocks:
        exec(compile(block, "README.md", "exec"), scope)
    # The example samples two centred graphs with 20 NFE.
    assert scope["x"].shape == (12, 3) and scope["nfe"] == 20
    assert scope["space"].centre(scope["x"]).abs().max() < 1e-5
    assert torch.isfinite(scope["loss"])
    # The checkpoint example: ten checked conformers of aspirin with the shipped sampler.
    res = scope["results"][0]
    assert res.num_conformers == 10 and scope["model"].sampler.name == "heun"
    assert res.stats["sampled"] == 10 + res.stats["geometry_rejected"] + res.stats["stereo_rejected"]
