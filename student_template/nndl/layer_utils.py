"""Sandwich layers: common chains of layers as one forward/backward pair, so nets stay short."""

from .layers import *


def affine_relu_forward(x, w, b):
    """Affine layer followed by a ReLU. Returns (out, cache) with cache = (fc_cache, relu_cache)."""
    a, fc_cache = affine_forward(x, w, b)
    out, relu_cache = relu_forward(a)
    cache = (fc_cache, relu_cache)
    return out, cache


def affine_relu_backward(dout, cache):
    """Backward pass of affine_relu_forward. Returns (dx, dw, db)."""
    fc_cache, relu_cache = cache
    da = relu_backward(dout, relu_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db


# ================================================================== #
# YOUR CODE HERE
# ================================================================== #
pass
# ================================================================== #
# END YOUR CODE HERE
# ================================================================== #
