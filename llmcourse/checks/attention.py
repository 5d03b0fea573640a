"""Visible self-checks for module 01_attention."""
