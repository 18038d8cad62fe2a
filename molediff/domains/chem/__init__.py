"""Shared chemistry for the molecule and conformer domains: QM9, featurisation, RDKit helpers."""
