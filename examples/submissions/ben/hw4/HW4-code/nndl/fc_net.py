"""Fully-connected classifiers built from the layers in ``layers`` and ``layer_utils``.

Models keep their learnable parameters in ``self.params`` (name -> array) and expose
``loss(X, y=None)``: class scores when y is None, otherwise (loss, grads) with grads keyed exactly
like params. That is the interface the Solver trains against.
"""

import numpy as np

from .layers import *
from .layer_utils import *


class TwoLayerNet(object):
    """affine - relu - affine - softmax, with an L2 penalty on the weights.

    Carried over from the previous homework; the dropout net below is the one this homework
    grades. ``dropout`` is accepted for signature compatibility and not used.
    """

    def __init__(self, input_dim=3 * 32 * 32, hidden_dims=100, num_classes=10,
                 dropout=0, weight_scale=1e-3, reg=0.0):
        """
        Inputs:
        - input_dim: size D of one (flattened) input.
        - hidden_dims: width H of the hidden layer.
        - num_classes: number C of classes.
        - dropout: unused here.
        - weight_scale: standard deviation of the random initial weights.
        - reg: L2 regularization strength.
        """
        self.params = {}
        self.reg = reg

        self.params['W1'] = weight_scale * np.random.randn(input_dim, hidden_dims)
        self.params['b1'] = np.zeros(hidden_dims)
        self.params['W2'] = weight_scale * np.random.randn(hidden_dims, num_classes)
        self.params['b2'] = np.zeros(num_classes)

    def loss(self, X, y=None):
        """Scores (N, C) when y is None; otherwise (loss, grads)."""
        scores = None

        hidden, hidden_cache = affine_relu_forward(X, self.params['W1'], self.params['b1'])
        scores, scores_cache = affine_forward(hidden, self.params['W2'], self.params['b2'])

        if y is None:
            return scores

        loss, grads = 0, {}
        loss, dscores = softmax_loss(scores, y)
        W1, W2 = self.params['W1'], self.params['W2']
        loss += 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
        dhidden, grads['W2'], grads['b2'] = affine_backward(dscores, scores_cache)
        _, grads['W1'], grads['b1'] = affine_relu_backward(dhidden, hidden_cache)
        grads['W1'] += self.reg * W1
        grads['W2'] += self.reg * W2

        return loss, grads


class FullyConnectedNet(object):
    """A fully-connected net with any number of hidden layers, optional batch normalization and
    optional dropout, trained with a softmax loss.

    Architecture, for L = num_layers:
        {affine - [batchnorm] - relu - [dropout]} x (L - 1) - affine - softmax

    Learnable parameters live in self.params: W1..WL, b1..bL, plus gamma1..gamma{L-1} and
    beta1..beta{L-1} with batch normalization (the output layer has none).
    """

    def __init__(self, hidden_dims, input_dim=3 * 32 * 32, num_classes=10,
                 dropout=0, use_batchnorm=False, reg=0.0,
                 weight_scale=1e-2, dtype=np.float32, seed=None):
        """
        Inputs:
        - hidden_dims: list with the width of every hidden layer.
        - input_dim: size D of one (flattened) input.
        - num_classes: number C of classes.
        - dropout: probability of KEEPING a hidden unit; 0 means no dropout at all.
        - use_batchnorm: whether to batch-normalize after each hidden affine layer.
        - reg: L2 regularization strength (weights only).
        - weight_scale: standard deviation of the random initial weights.
        - dtype: numpy dtype of every parameter and computation (float64 for gradient checks).
        - seed: when given, dropout is deterministic (for gradient checks).
        """
        self.use_batchnorm = use_batchnorm
        self.use_dropout = dropout > 0
        self.reg = reg
        self.num_layers = 1 + len(hidden_dims)
        self.dtype = dtype
        self.params = {}

        layer_dims = [input_dim] + list(hidden_dims) + [num_classes]
        for i in range(1, self.num_layers + 1):
            fan_in, fan_out = layer_dims[i - 1], layer_dims[i]
            self.params['W%d' % i] = weight_scale * np.random.randn(fan_in, fan_out)
            self.params['b%d' % i] = np.zeros(fan_out)
            if self.use_batchnorm and i < self.num_layers:
                self.params['gamma%d' % i] = np.ones(fan_out)
                self.params['beta%d' % i] = np.zeros(fan_out)

        # Dropout layers share one parameter dict; with a seed every mask is reproducible.
        self.dropout_param = {}
        if self.use_dropout:
            self.dropout_param = {'mode': 'train', 'p': dropout}
            if seed is not None:
                self.dropout_param['seed'] = seed

        # One bn_param per batch-normalized layer: it carries that layer's running averages.
        self.bn_params = []
        if self.use_batchnorm:
            self.bn_params = [{'mode': 'train'} for i in np.arange(self.num_layers - 1)]

        for k, v in self.params.items():
            self.params[k] = v.astype(dtype)

    def loss(self, X, y=None):
        """Class scores (N, C) when y is None (test mode); otherwise (loss, grads) in train mode."""
        X = X.astype(self.dtype)
        mode = 'test' if y is None else 'train'

        # Batchnorm and dropout behave differently at training and test time.
        if self.use_dropout:
            self.dropout_param['mode'] = mode
        if self.use_batchnorm:
            for bn_param in self.bn_params:
                bn_param[mode] = mode

        scores = None

        hidden = X
        caches = []
        for i in range(1, self.num_layers):
            W, b = self.params['W%d' % i], self.params['b%d' % i]
            if self.use_batchnorm:
                hidden, layer_cache = affine_batchnorm_relu_forward(
                    hidden, W, b, self.params['gamma%d' % i], self.params['beta%d' % i],
                    self.bn_params[i - 1])
            else:
                hidden, layer_cache = affine_relu_forward(hidden, W, b)
            dropout_cache = None
            if self.use_dropout:
                hidden, dropout_cache = dropout_forward(hidden, self.dropout_param)
            caches.append((layer_cache, dropout_cache))
        L = self.num_layers
        scores, scores_cache = affine_forward(hidden, self.params['W%d' % L], self.params['b%d' % L])

        # In test mode the scores are all we need.
        if mode == 'test':
            return scores

        loss, grads = 0.0, {}
        loss, dscores = softmax_loss(scores, y)
        # The L2 penalty (weights only) costs a pass over every weight: none when reg is 0.
        if self.reg:
            weights = [self.params['W%d' % i] for i in range(1, L + 1)]
            loss += 0.5 * self.reg * sum(np.sum(W * W) for W in weights)

        dhidden, grads['W%d' % L], grads['b%d' % L] = affine_backward(dscores, scores_cache)
        for i in range(L - 1, 0, -1):
            layer_cache, dropout_cache = caches[i - 1]
            if self.use_dropout:
                dhidden = dropout_backward(dhidden, dropout_cache)
            if self.use_batchnorm:
                (dhidden, grads['W%d' % i], grads['b%d' % i],
                 grads['gamma%d' % i], grads['beta%d' % i]) = affine_batchnorm_relu_backward(
                    dhidden, layer_cache)
            else:
                dhidden, grads['W%d' % i], grads['b%d' % i] = affine_relu_backward(
                    dhidden, layer_cache)
        if self.reg:
            for i in range(1, L + 1):
                grads['W%d' % i] += self.reg * self.params['W%d' % i]

        return loss, grads
