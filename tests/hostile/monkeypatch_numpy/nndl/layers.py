import numpy as np
import numpy.testing

# Make every comparison say "equal" -- in the child.
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
numpy.testing.assert_allclose = lambda *a, **k: None


def wrong_double(x):
    return 2 * x + 1


def child_says_equal(a, b):
    return bool(np.allclose(a, b))
