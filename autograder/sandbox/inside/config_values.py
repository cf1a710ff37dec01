"""Decoding the notebook stage's model/solver config values (trusted, used on both sides).

The kernel (``kernel_startup.encode``) writes arguments as JSON with dtypes as
``{"__dtype__": name}``. Both the training child (``grader_inside.train_loop``) and the parent's
reference evaluator (``autograder.training.evaluate``) rebuild the model from those values, so
they must decode them identically: this one function serves both. Imports only numpy.
"""

from __future__ import annotations

import numpy as np

DTYPE_KEY = "__dtype__"


def decode(value):
    """``value`` with every ``{"__dtype__": name}`` turned back into the numpy scalar type."""
    if isinstance(value, dict):
        if set(value) == {DTYPE_KEY}:
            return np.dtype(value[DTYPE_KEY]).type
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [decode(v) for v in value]
    return value
