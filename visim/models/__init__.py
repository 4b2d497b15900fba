"""Backbones, heads, the Power Spherical distribution, SimSiam / VI-SimSiam and their losses."""
