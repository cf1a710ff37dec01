import numpy as np


def grab():
    return int(np.ones(8 << 30, dtype=np.uint8).sum())  # 8 GiB


def double(x):
    return 2 * x
