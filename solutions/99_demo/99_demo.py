# %% [markdown]
# # Title
# text

# %%
import numpy as np

# %% nbgrader={"grade": false, "grade_id": "f", "locked": false, "solution": true, "schema_version": 3}
def f(x):
    """doc"""
    ### BEGIN SOLUTION
    return x + 1
    ### END SOLUTION

# %% nbgrader={"grade": true, "grade_id": "f_test", "locked": true, "points": 2, "solution": false, "schema_version": 3}
assert f(1) == 2
### BEGIN HIDDEN TESTS
assert f(2) == 3
### END HIDDEN TESTS

