"""Visible self-checks for module 00_welcome."""
