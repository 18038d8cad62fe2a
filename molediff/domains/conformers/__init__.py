"""Conformer generation domain: molecular graph in, 3D conformers (Å) out."""
