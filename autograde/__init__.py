"""Build and grading pipeline for the course (instructor side)."""
