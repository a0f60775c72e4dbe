"""Discrete operators in numpy and scipy alone (no torch, no FEniCSx).

The generators of :mod:`pde_data` and the torch models of :mod:`sciml_grow.inverse` both use
them, so the two halves compute the same numbers from one definition.
"""
