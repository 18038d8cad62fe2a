"""Protein backbone design: N, CA, C, O diffusion, contigs, symmetry, partial diffusion."""
