"""Numerical gradients by centred differences, to check analytic backward passes.

Each entry of the input is nudged by +h and -h in place and restored afterwards; the gradient
estimate is (f(x + h) - f(x - h)) / 2h, accurate to O(h**2).
"""

from random import randrange

import numpy as np


def eval_numerical_gradient(f, x, verbose=True, h=1e-5):
    """Gradient of a scalar function f at x (an array modified in place and restored)."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=['multi_index'], op_flags=['readwrite'])
    while not it.finished:
        ix = it.multi_index
        original = x[ix]
        x[ix] = original + h
        f_plus = f(x)
        x[ix] = original - h
        f_minus = f(x)
        x[ix] = original
        grad[ix] = (f_plus - f_minus) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient with respect to x of sum(f(x) * df), for an array-valued f and upstream df."""
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=['multi_index'], op_flags=['readwrite'])
    while not it.finished:
        ix = it.multi_index
        original = x[ix]
        x[ix] = original + h
        out_plus = np.array(f(x), copy=True)
        x[ix] = original - h
        out_minus = np.array(f(x), copy=True)
        x[ix] = original
        grad[ix] = np.sum((out_plus - out_minus) * df) / (2 * h)
        it.iternext()
    return grad


def eval_numerical_gradient_blobs(f, inputs, output, h=1e-5):
    """Numerical gradients for functions on "blobs": objects with ``.vals`` (values) and
    ``.diffs`` (upstream gradient, on the output). f(*inputs) writes its result into
    output.vals; returns one gradient array per input blob."""
    numeric_diffs = []
    for input_blob in inputs:
        diff = np.zeros_like(input_blob.diffs)
        it = np.nditer(input_blob.vals, flags=['multi_index'], op_flags=['readwrite'])
        while not it.finished:
            idx = it.multi_index
            original = input_blob.vals[idx]
            input_blob.vals[idx] = original + h
            f(*(inputs + (output,)))
            plus = np.copy(output.vals)
            input_blob.vals[idx] = original - h
            f(*(inputs + (output,)))
            minus = np.copy(output.vals)
            input_blob.vals[idx] = original
            diff[idx] = np.sum((plus - minus) * output.diffs) / (2.0 * h)
            it.iternext()
        numeric_diffs.append(diff)
    return numeric_diffs


def eval_numerical_gradient_net(net, inputs, output, h=1e-5):
    """eval_numerical_gradient_blobs for a net whose ``forward()`` fills ``output``."""
    return eval_numerical_gradient_blobs(lambda *args: net.forward(), inputs, output, h=h)


def grad_check_sparse(f, x, analytic_grad, num_checks=10, h=1e-5):
    """Compare analytic_grad with centred differences at num_checks random entries of x,
    printing numerical, analytic and relative error for each."""
    for _ in range(num_checks):
        ix = tuple(randrange(m) for m in x.shape)
        original = x[ix]
        x[ix] = original + h
        f_plus = f(x)
        x[ix] = original - h
        f_minus = f(x)
        x[ix] = original
        grad_numerical = (f_plus - f_minus) / (2 * h)
        grad_analytic = analytic_grad[ix]
        denominator = abs(grad_numerical) + abs(grad_analytic)
        rel_error = abs(grad_numerical - grad_analytic) / denominator if denominator else 0.0
        print('numerical: %f analytic: %f, relative error: %e'
              % (grad_numerical, grad_analytic, rel_error))
