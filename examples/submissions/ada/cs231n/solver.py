"""Minibatch training loop shared by every model of the homework.

A model is anything with ``params`` (name -> array) and ``loss(X, y=None)`` returning scores
when y is None and (loss, grads) otherwise. ``Solver(model, data, **options).train()`` runs
minibatch gradient descent with an update rule from ``nndl.optim``, tracks loss and accuracy
histories, and leaves the model holding the parameters with the best validation accuracy.

Subclasses (the grader's fast mode and training loop) may override ``_num_iterations`` to cap
the run, ``_on_epoch_end`` to observe every epoch, ``_should_stop`` to end early, and
``_record_accuracy`` to change how accuracy is measured.
"""

import importlib
import pickle

import numpy as np

_DEFAULTS = {
    'update_rule': 'sgd',
    'optim_config': None,
    'lr_decay': 1.0,
    'batch_size': 100,
    'num_epochs': 10,
    'num_train_samples': 1000,
    'num_val_samples': None,
    'checkpoint_name': None,
    'print_every': 10,
    'verbose': True,
}


def _python_number(value):
    """A NumPy scalar (or 0-d array) as the Python number it holds; anything else unchanged.

    Under NumPy 2's promotion rules ``np.float64(1e-3) * w`` is float64 even when w is float32,
    while ``1e-3 * w`` stays float32: a learning rate drawn with ``10 ** np.random.uniform(...)``
    would otherwise turn a float32 model's weights into float64 after the first update.
    """
    if isinstance(value, (np.generic, np.ndarray)) and np.ndim(value) == 0:
        return value.item()
    return value


def resolve_update_rule(rule):
    """A callable is used as is; a name is looked up in ``nndl.optim`` (imported on demand, so
    whichever ``nndl`` is importable when the Solver is built provides the rules)."""
    if callable(rule):
        return rule
    optim = importlib.import_module('nndl.optim')
    if not isinstance(rule, str) or not hasattr(optim, rule):
        raise ValueError('Invalid update_rule "%s"' % (rule,))
    return getattr(optim, rule)


class Solver(object):
    """Trains a classification model with minibatch gradient descent.

    Required:
    - model: object with ``params`` and ``loss(X, y=None)`` (see the module docstring).
    - data: dict with 'X_train', 'y_train', 'X_val', 'y_val'.

    Optional keyword arguments:
    - update_rule: name of a rule in nndl.optim, or the rule itself (default 'sgd').
    - optim_config: hyperparameters given to the rule (copied for every parameter).
    - lr_decay: every parameter's learning rate is multiplied by this after each epoch.
    - batch_size: examples per minibatch (default 100).
    - num_epochs: epochs to train (default 10).
    - num_train_samples: training examples used to measure train accuracy (default 1000).
    - num_val_samples: validation examples used to measure val accuracy (None: all).
    - checkpoint_name: when set, a pickle is written after each accuracy check.
    - print_every: print the loss every this many iterations (default 10).
    - verbose: print progress (default True).
    Any other keyword raises ValueError.
    """

    def __init__(self, model, data, **kwargs):
        self.model = model
        self.X_train = data['X_train']
        self.y_train = data['y_train']
        self.X_val = data['X_val']
        self.y_val = data['y_val']

        unknown = sorted(set(kwargs) - set(_DEFAULTS))
        if unknown:
            raise ValueError('Unrecognized arguments %s' % ', '.join('"%s"' % k for k in unknown))
        options = dict(_DEFAULTS, **kwargs)
        self.update_rule = resolve_update_rule(options['update_rule'])
        # Hyperparameters as Python numbers, so they never change the dtype of the weights.
        self.optim_config = {k: _python_number(v) for k, v in (options['optim_config'] or {}).items()}
        self.lr_decay = _python_number(options['lr_decay'])
        self.batch_size = options['batch_size']
        self.num_epochs = options['num_epochs']
        self.num_train_samples = options['num_train_samples']
        self.num_val_samples = options['num_val_samples']
        self.checkpoint_name = options['checkpoint_name']
        self.print_every = options['print_every']
        self.verbose = options['verbose']

        self._reset()

    def _reset(self):
        """Clear the training bookkeeping; every parameter gets its own copy of optim_config."""
        self.epoch = 0
        self.best_val_acc = 0
        self.best_params = {}
        self.loss_history = []
        self.train_acc_history = []
        self.val_acc_history = []
        self.optim_configs = {p: dict(self.optim_config) for p in self.model.params}

    def _step(self):
        """One gradient update on a random minibatch (drawn with replacement)."""
        num_train = self.X_train.shape[0]
        batch_mask = np.random.choice(num_train, self.batch_size)
        X_batch = self.X_train[batch_mask]
        y_batch = self.y_train[batch_mask]

        loss, grads = self.model.loss(X_batch, y_batch)
        self.loss_history.append(loss)

        for p, w in self.model.params.items():
            next_w, next_config = self.update_rule(w, grads[p], self.optim_configs[p])
            self.model.params[p] = next_w
            self.optim_configs[p] = next_config

    def _save_checkpoint(self):
        """Pickle the model and the training state to '<checkpoint_name>_epoch_<e>.pkl'."""
        if self.checkpoint_name is None:
            return
        checkpoint = {
            'model': self.model,
            'update_rule': self.update_rule,
            'lr_decay': self.lr_decay,
            'optim_config': self.optim_config,
            'batch_size': self.batch_size,
            'num_train_samples': self.num_train_samples,
            'num_val_samples': self.num_val_samples,
            'epoch': self.epoch,
            'loss_history': self.loss_history,
            'train_acc_history': self.train_acc_history,
            'val_acc_history': self.val_acc_history,
        }
        filename = '%s_epoch_%d.pkl' % (self.checkpoint_name, self.epoch)
        if self.verbose:
            print('Saving checkpoint to "%s"' % filename)
        with open(filename, 'wb') as f:
            pickle.dump(checkpoint, f)

    def check_accuracy(self, X, y, num_samples=None, batch_size=100):
        """Fraction of examples whose highest score is the true label.

        - num_samples: when given and smaller than N, a random subset of that size is used.
        - batch_size: examples scored per call of model.loss (bounds memory).
        """
        N = X.shape[0]
        if num_samples is not None and N > num_samples:
            mask = np.random.choice(N, num_samples)
            N = num_samples
            X = X[mask]
            y = y[mask]

        num_batches = N // batch_size
        if N % batch_size != 0:
            num_batches += 1
        y_pred = []
        for i in range(num_batches):
            start, end = i * batch_size, (i + 1) * batch_size
            scores = self.model.loss(X[start:end])
            y_pred.append(np.argmax(scores, axis=1))
        y_pred = np.hstack(y_pred)
        return np.mean(y_pred == y)

    # ---- hooks for subclasses -----------------------------------------------------------------

    def _num_iterations(self, iterations_per_epoch):
        """Total number of gradient steps: a subclass may cap it."""
        return self.num_epochs * iterations_per_epoch

    def _on_epoch_end(self):
        """Called after each full epoch's bookkeeping (self.epoch already counts it)."""

    def _should_stop(self):
        """Checked after every step; returning True ends training (best params still restored)."""
        return False

    def _record_accuracy(self):
        """Measure train/val accuracy, log it, and remember the parameters if they are the best."""
        train_acc = self.check_accuracy(self.X_train, self.y_train,
                                        num_samples=self.num_train_samples)
        val_acc = self.check_accuracy(self.X_val, self.y_val,
                                      num_samples=self.num_val_samples)
        self.train_acc_history.append(train_acc)
        self.val_acc_history.append(val_acc)
        self._save_checkpoint()

        if self.verbose:
            print('(Epoch %d / %d) train acc: %f; val_acc: %f' % (
                self.epoch, self.num_epochs, train_acc, val_acc))

        if val_acc > self.best_val_acc:
            self.best_val_acc = val_acc
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}

    # ---- training -----------------------------------------------------------------------------

    def train(self):
        """Run the optimization, then set model.params to the best parameters seen."""
        num_train = self.X_train.shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self._num_iterations(iterations_per_epoch)

        for t in range(num_iterations):
            self._step()

            if self.verbose and t % self.print_every == 0:
                print('(Iteration %d / %d) loss: %f' % (
                    t + 1, num_iterations, self.loss_history[-1]))

            epoch_end = (t + 1) % iterations_per_epoch == 0
            if epoch_end:
                self.epoch += 1
                for config in self.optim_configs.values():
                    if 'learning_rate' in config:
                        config['learning_rate'] *= self.lr_decay

            stop = self._should_stop()
            if t == 0 or t == num_iterations - 1 or epoch_end or stop:
                self._record_accuracy()
            if epoch_end:
                self._on_epoch_end()
            if stop:
                break

        # A model that never beat 0% validation accuracy keeps its final parameters.
        if self.best_params:
            self.model.params = self.best_params
