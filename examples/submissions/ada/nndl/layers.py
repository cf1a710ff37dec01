"""Layers of a fully-connected network: each has a forward pass returning (out, cache) and a
backward pass that turns the upstream gradient plus that cache into input/parameter gradients.

Regions between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` are what students write; the
``### STUB:`` lines inside a region are what the generated template keeps in its place.
"""

import numpy as np


def affine_forward(x, w, b):
    """Fully-connected layer: flattens each example and applies ``x @ w + b``.

    Inputs:
    - x: array (N, d_1, ..., d_k) of N examples; each flattens to D = d_1 * ... * d_k values.
    - w: weights, shape (D, M).
    - b: biases, shape (M,).

    Returns (out, cache): out has shape (N, M); cache is (x, w, b) for the backward pass.
    """
    out = None
    out = x.reshape(x.shape[0], -1).dot(w)
    out += b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """Gradients of the fully-connected layer.

    Inputs:
    - dout: upstream gradient, shape (N, M).
    - cache: (x, w, b) as saved by affine_forward.

    Returns (dx, dw, db) shaped like x, w and b.
    """
    x, w, b = cache
    dx, dw, db = None, None, None
    x_flat = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x_flat.T.dot(dout)
    db = dout.sum(axis=0)
    return dx, dw, db


def relu_forward(x):
    """Rectified linear unit, elementwise ``max(0, x)``. Returns (out, cache) with cache = x."""
    out = None
    out = np.maximum(x, 0)
    cache = x
    return out, cache


def relu_backward(dout, cache):
    """Gradient of the ReLU: passes dout where the cached input was positive, zero elsewhere."""
    x = cache
    dx = None
    dx = dout * (x > 0)
    return dx


def batchnorm_forward(x, gamma, beta, bn_param):
    """Batch normalization over the N examples of a minibatch, feature by feature.

    Training mode normalises with the minibatch mean and biased (1/N) variance and folds them
    into exponentially decaying running averages:
        running = momentum * running + (1 - momentum) * batch_statistic
    Test mode normalises with those running averages instead. Either way the normalised
    values are scaled by gamma and shifted by beta.

    Inputs:
    - x: data, shape (N, D).
    - gamma, beta: scale and shift, shape (D,).
    - bn_param: dict with
      - mode: 'train' or 'test' (required)
      - eps: added to the variance for numerical stability (default 1e-5)
      - momentum: decay of the running averages (default 0.9)
      - running_mean, running_var: arrays (D,), zeros when absent; updated in place of the
        dict entries (new arrays are stored back).

    Returns (out, cache): out has shape (N, D); cache holds what batchnorm_backward needs.
    """
    mode = bn_param['mode']
    eps = bn_param.get('eps', 1e-5)
    momentum = bn_param.get('momentum', 0.9)

    N, D = x.shape
    running_mean = bn_param.get('running_mean', np.zeros(D, dtype=x.dtype))
    running_var = bn_param.get('running_var', np.zeros(D, dtype=x.dtype))

    out, cache = None, None
    if mode == 'train':
        batch_mean = x.mean(axis=0)
        x_hat = x - batch_mean                        # centred first: the variance reuses it
        batch_var = (x_hat * x_hat).mean(axis=0)      # biased (1/N), like x.var(axis=0)
        inv_std = 1.0 / np.sqrt(batch_var + eps)
        x_hat *= inv_std
        out = gamma * x_hat
        out += beta
        cache = (x_hat, gamma, inv_std)
        running_mean = momentum * running_mean + (1 - momentum) * batch_mean
        running_var = momentum * running_var + (1 - momentum) * batch_var
    elif mode == 'test':
        x_hat = (x - running_mean) / np.sqrt(running_var + eps)
        out = gamma * x_hat + beta
    else:
        raise ValueError('Invalid forward batchnorm mode "%s"' % mode)

    # Store the updated running averages back into bn_param.
    bn_param['running_mean'] = running_mean
    bn_param['running_var'] = running_var

    return out, cache


def batchnorm_backward(dout, cache):
    """Gradients of training-mode batch normalization.

    Inputs:
    - dout: upstream gradient, shape (N, D).
    - cache: what batchnorm_forward saved in training mode.

    Returns (dx, dgamma, dbeta): dx (N, D); dgamma and dbeta (D,).
    """
    dx, dgamma, dbeta = None, None, None
    x_hat, gamma, inv_std = cache
    N = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * x_hat).sum(axis=0)
    # With g = dL/dx_hat = gamma * dout, the mean and variance depend on every row, which gives
    #   dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat)),
    # and mean(g) = gamma * dbeta / N, mean(g * x_hat) = gamma * dgamma / N, so
    #   dx = gamma * inv_std * (dout - dbeta / N - x_hat * dgamma / N).
    dx = x_hat * (dgamma / N)
    np.subtract(dout, dx, out=dx)
    dx -= dbeta / N
    dx *= gamma * inv_std
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Inverted dropout.

    Inputs:
    - x: data of any shape.
    - dropout_param: dict with
      - p: the probability of KEEPING each unit (this term's convention).
      - mode: 'train' applies a random mask scaled by 1/p, so the expected output equals x;
        'test' returns x unchanged.
      - seed: optional; when present the random generator is re-seeded on every call, which
        makes the layer deterministic (for gradient checks).

    Returns (out, cache): out has the shape and dtype of x; cache is (dropout_param, mask),
    with mask None in test mode.
    """
    p, mode = dropout_param['p'], dropout_param['mode']
    if 'seed' in dropout_param:
        np.random.seed(dropout_param['seed'])

    mask = None
    out = None

    if mode == 'train':
        # The mask is built in x's dtype: kept units are scaled by 1/p, dropped ones are 0.
        mask = (np.random.rand(*x.shape) < p).astype(x.dtype)
        mask /= p
        out = x * mask
    elif mode == 'test':
        out = x

    cache = (dropout_param, mask)
    out = out.astype(x.dtype, copy=False)

    return out, cache


def dropout_backward(dout, cache):
    """Gradient of dropout: the train-time mask (already scaled by 1/p), identity at test time."""
    dropout_param, mask = cache
    mode = dropout_param['mode']

    dx = None
    if mode == 'train':
        dx = dout * mask
    elif mode == 'test':
        dx = dout
    return dx


def svm_loss(x, y):
    """Multiclass hinge loss (margin 1), averaged over the N examples.

    Inputs: x, scores of shape (N, C); y, labels (N,) with 0 <= y[i] < C.
    Returns (loss, dx) with dx = dloss/dx.
    """
    N = x.shape[0]
    correct = x[np.arange(N), y][:, np.newaxis]
    margins = np.maximum(0, x - correct + 1.0)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N
    positive = (margins > 0).astype(x.dtype)
    dx = positive.copy()
    dx[np.arange(N), y] -= positive.sum(axis=1)
    dx /= N
    return loss, dx


def softmax_loss(x, y):
    """Softmax cross-entropy, averaged over the N examples.

    Inputs: x, scores of shape (N, C); y, labels (N,) with 0 <= y[i] < C.
    Returns (loss, dx) with dx = dloss/dx.
    """
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    N = x.shape[0]
    loss = -log_probs[np.arange(N), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx
