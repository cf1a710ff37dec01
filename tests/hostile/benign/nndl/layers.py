import numpy as np


def double(x):
    return 2 * x


def dropout_forward(x, dropout_param):
    p, mode = dropout_param["p"], dropout_param["mode"]
    mask = None
    if mode == "train":
        mask = (np.random.rand(*x.shape) < p) / p
        out = x * mask
    else:
        out = x
    return out.astype(x.dtype, copy=False), (dropout_param, mask)


def old_numpy(x):
    return np.product(x.shape) + np.float(1)


def batchnorm_forward(x, gamma, beta, bn_param):
    bn_param["running_mean"] = x.mean(axis=0)
    return gamma * x + beta, (x, gamma)


def shape_bug(x):
    return helper(x)


def helper(x):
    return np.ones(3) @ np.ones(4)


def say(text):
    print(text)
    import sys
    sys.stderr.write("err:" + text)
    return len(text)
