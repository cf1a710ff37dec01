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


def affine_batchnorm_relu_forward(x, w, b, gamma, beta, bn_param):
    """Affine layer, batch normalization, then ReLU.

    Returns (out, cache) with cache = (fc_cache, bn_cache, relu_cache).
    """
    a, fc_cache = affine_forward(x, w, b)
    a_bn, bn_cache = batchnorm_forward(a, gamma, beta, bn_param)
    out, relu_cache = relu_forward(a_bn)
    return out, (fc_cache, bn_cache, relu_cache)


def affine_batchnorm_relu_backward(dout, cache):
    """Backward pass of affine_batchnorm_relu_forward. Returns (dx, dw, db, dgamma, dbeta)."""
    fc_cache, bn_cache, relu_cache = cache
    da_bn = relu_backward(dout, relu_cache)
    da, dgamma, dbeta = batchnorm_backward(da_bn, bn_cache)
    dx, dw, db = affine_backward(da, fc_cache)
    return dx, dw, db, dgamma, dbeta
