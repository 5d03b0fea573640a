"""Support package for the llmcourse notebooks (never contains a graded solution)."""

__version__ = "0.1.0"
