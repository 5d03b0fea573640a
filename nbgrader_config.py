"""nbgrader settings for instructors working in this repository (see README, "Instructor guide")."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from autograde.settings import IGNORE, RELEASE_DIR, SOURCE_DIR  # noqa: E402

c = get_config()  # noqa: F821 - provided by nbgrader when it loads this file

c.CourseDirectory.course_id = "llmcourse"
c.CourseDirectory.source_directory = SOURCE_DIR
c.CourseDirectory.release_directory = RELEASE_DIR
c.CourseDirectory.ignore = IGNORE
# Generous per-cell limit: the slowest graded cell runs in a few seconds on 2 cores.
c.Execute.timeout = 120
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
