"""First-order update rules.

Every rule has the form ``rule(w, dw, config=None) -> (next_w, config)``:
- w: current weights; dw: gradient of the loss with respect to w (same shape);
- config: hyperparameters plus the rule's state (velocity, moment estimates...). The Solver
  keeps one config per parameter and hands back whatever the rule returned on the next step,
  so a rule must store its updated state in the config it returns.

State key names follow this course (``velocity``, ``a``, ``v``, ``t``), not CS231n's.
"""

import numpy as np


def sgd(w, dw, config=None):
    """Vanilla stochastic gradient descent, in place: w -= learning_rate * dw.

    config: learning_rate (default 1e-2).
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)

    w -= config['learning_rate'] * dw
    return w, config


def sgd_momentum(w, dw, config=None):
    """SGD with momentum: the velocity accumulates past gradients.

    config: learning_rate (1e-2); momentum (0.9; 0 is plain SGD); velocity (same shape as w,
    zeros when absent), stored back in config['velocity'].
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', np.zeros_like(w))

    next_w = None
    # ================================================================== #
    # YOUR CODE HERE
    # ================================================================== #
    pass
    # ================================================================== #
    # END YOUR CODE HERE
    # ================================================================== #
    config['velocity'] = v

    return next_w, config


def sgd_nesterov_momentum(w, dw, config=None):
    """SGD with Nesterov momentum: the step looks ahead along the updated velocity.

    With mu the momentum and v the previous velocity:
        v' = mu * v - learning_rate * dw;   w' = w + v' + mu * (v' - v)

    config: learning_rate (1e-2); momentum (0.9); velocity (zeros when absent), stored back.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    v = config.get('velocity', np.zeros_like(w))

    next_w = None
    # ================================================================== #
    # YOUR CODE HERE
    # ================================================================== #
    pass
    # ================================================================== #
    # END YOUR CODE HERE
    # ================================================================== #
    config['velocity'] = v

    return next_w, config


def rmsprop(w, dw, config=None):
    """RMSProp: divides the step by a running root-mean-square of recent gradients.

    config: learning_rate (1e-2); decay_rate (0.99); epsilon (1e-8); a, the running average of
    dw**2 (zeros when absent), stored back in config['a'].
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('decay_rate', 0.99)
    config.setdefault('epsilon', 1e-8)
    if 'a' not in config:
        config['a'] = np.zeros_like(w)

    next_w = None
    # ================================================================== #
    # YOUR CODE HERE
    # ================================================================== #
    pass
    # ================================================================== #
    # END YOUR CODE HERE
    # ================================================================== #

    return next_w, config


def adam(w, dw, config=None):
    """Adam: momentum on the gradient (v) and on its square (a), both bias-corrected.

    config: learning_rate (1e-3); beta1 (0.9); beta2 (0.999); epsilon (1e-8); v and a (zeros
    when absent); t, the step count (0), incremented BEFORE the bias correction. All stored back.
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    if 'v' not in config:
        config['v'] = np.zeros_like(w)
    if 'a' not in config:
        config['a'] = np.zeros_like(w)
    config.setdefault('t', 0)

    next_w = None
    # ================================================================== #
    # YOUR CODE HERE
    # ================================================================== #
    pass
    # ================================================================== #
    # END YOUR CODE HERE
    # ================================================================== #

    return next_w, config
