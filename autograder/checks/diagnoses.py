"""Named bug fingerprints: a stable id and one sentence a student can act on.

A check recognises a fingerprint by evaluating the candidate buggy formula in the parent and
comparing it with the student's output (see `first_match`); it never reads the student's source.
Messages may hold ``{placeholders}`` that the check fills with the numbers it measured.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from .compare import matches

OPTIM_NOTE = " Training uses your optimizers, so this bug can explain a low accuracy."

DIAGNOSES: dict[str, str] = {
    # --- generic -----------------------------------------------------------------------------
    "not_implemented": "{what} returns None: this part is still the template's stub, implement it.",
    "not_finite": "{what} contains NaN or infinity for ordinary inputs; check for a division by zero or an overflow.",
    "import_failed": "Your code imports {module}{where}, which is neither in your submission nor available to the grader: remove that import (editors sometimes add such lines) so the modules that use it load.",
    "wrong_shape": "{what} has the wrong shape; compare it with the shapes in the docstring.",
    # --- layers --------------------------------------------------------------------------------
    "layers.affine_no_reshape": "affine_forward fails or is wrong on a 4-D input: flatten x to (N, D) with x.reshape(x.shape[0], -1) before the product.",
    "layers.affine_dx_not_reshaped": "affine_backward returns dx shaped {got}; reshape it back to x's shape {want}.",
    "layers.db_shape": "affine_backward returns db shaped {got}; sum over axis 0 without keepdims so db has b's shape {want}.",
    "layers.relu_mutates_cache": "relu_backward modifies the cached input in place, so the cache is corrupted after one backward call; compute dx on a copy.",
    "layers.relu_wrong_gate": "relu_backward lets gradient through where x < 0 or blocks it where x > 0; dx should be dout where x > 0 and 0 elsewhere.",
    # --- dropout -------------------------------------------------------------------------------
    "dropout.p_is_drop_probability": "About {zeroed:.2f} of the units were zeroed for p={p}: in this assignment p is the probability of KEEPING a unit, so about {want:.2f} should be zeroed.",
    "dropout.p_is_keep_probability": "About {zeroed:.2f} of the units were zeroed for p={p}: in this assignment p is the probability of DROPPING a unit, so about {want:.2f} should be zeroed.",
    "dropout.no_inverted_scaling": "Kept units are returned unchanged: inverted dropout divides the kept activations by the keep probability at train time, so the expected output equals the input.",
    "dropout.wrong_scaling": "Kept units are scaled by 1/{used:.2f} instead of 1/{want:.2f}: divide by the keep probability.",
    "dropout.dtype_changed": "dropout_forward returned {got} for a {want} input: cast the output back to x.dtype.",
    "dropout.seed_ignored": "The same dropout_param['seed'] gave different masks: call np.random.seed(seed) when 'seed' is in dropout_param.",
    "dropout.applied_at_test": "In test mode dropout_forward must return x unchanged; yours still drops or rescales units.",
    "dropout.backward_not_scaled": "dropout_backward applies the mask without dividing by the keep probability: the gradient of x*mask/p is dout*mask/p.",
    "dropout.backward_mask_mismatch": "dropout_backward zeroes different units than the forward pass dropped: use the mask stored in the cache.",
    "dropout.backward_test_missing": "dropout_backward returns nothing useful in test mode: there it should return dout unchanged.",
    # --- batchnorm -----------------------------------------------------------------------------
    "batchnorm.eps_outside_sqrt": "You normalise by sqrt(var) + eps: eps belongs inside the square root, sqrt(var + eps) (it shows when a feature's variance is small).",
    "batchnorm.eps_missing": "You normalise by sqrt(var) without eps: use sqrt(var + eps) with bn_param's eps.",
    "batchnorm.var_ddof1": "Your variance divides by N-1: batch normalization uses the biased batch variance (divide by N, np.var's default).",
    "batchnorm.stats_no_axis": "The batch mean/variance are taken over the whole array: compute them per feature with axis=0.",
    "batchnorm.gamma_beta_swapped": "gamma and beta are swapped: out = gamma * x_hat + beta.",
    "batchnorm.momentum_swapped": "The running averages weight the batch by momentum: use running = momentum * running + (1 - momentum) * batch_stat.",
    "batchnorm.running_overwritten": "The running statistics are replaced by the batch statistics: blend them with momentum instead.",
    "batchnorm.running_not_written": "running_mean / running_var are not stored back into bn_param after a training call, so test mode never sees them.",
    "batchnorm.momentum_ignored": "bn_param['momentum'] is ignored: read it with bn_param.get('momentum', 0.9).",
    "batchnorm.running_var_ddof1": "The running variance is updated with the N-1 variance: use the same biased variance as the normalisation.",
    "batchnorm.test_uses_batch_stats": "Test mode normalises with the batch statistics: use bn_param's running_mean and running_var.",
    "batchnorm.test_eps_missing": "Test mode divides by sqrt(running_var) without eps: use sqrt(running_var + eps).",
    "batchnorm.test_no_affine": "Test mode returns the normalised input without gamma and beta: scale and shift it as in training.",
    "batchnorm.dgamma_wrong": "dgamma should be the sum over the batch of dout * x_hat (the normalised input), not of dout * x.",
    "batchnorm.dbeta_wrong": "dbeta should be the sum of dout over the batch (axis 0).",
    "batchnorm.dx_constant_stats": "dx treats the batch mean and variance as constants (dout * gamma / sqrt(var + eps)): include their dependence on x.",
    # --- fc_net --------------------------------------------------------------------------------
    "fc_net.missing_params": "params is missing {missing}: name them W1..WL, b1..bL (and gamma1/beta1... for the hidden layers with batchnorm).",
    "fc_net.extra_params": "params has unexpected entries {extra}: there is no batchnorm (gamma/beta) on the output layer.",
    "fc_net.param_shapes": "{key} has shape {got}, expected {want}.",
    "fc_net.bias_not_zero": "The biases (and beta) must be initialised to zeros.",
    "fc_net.gamma_zero_init": "gamma is initialised to zero, so every batchnorm layer outputs beta: initialise gamma to ones.",
    "fc_net.weight_scale_ignored": "The weights' standard deviation is {got:.3g}, expected weight_scale = {want:.3g}: draw W with weight_scale * np.random.randn(...).",
    "fc_net.params_not_cast": "Some params are not in the requested dtype ({bad}): cast every param with .astype(dtype) at the end of __init__.",
    "fc_net.grads_missing": "grads lacks {missing}: return a gradient for every entry of params, under the same key.",
    "fc_net.grad_shapes": "grads[{key}] has shape {got}, but params[{key}] has shape {want}: in-place updates would fail.",
    "fc_net.l2_without_half": "The L2 penalty is reg * sum(W**2); this assignment uses 0.5 * reg * sum(W**2), whose gradient is reg * W.",
    "fc_net.l2_missing_in_loss": "The loss has no L2 penalty: add 0.5 * reg * sum(W**2) over every layer's W.",
    "fc_net.l2_missing_in_grads": "The loss includes the L2 penalty but the gradients do not: add reg * W to each dW.",
    "fc_net.l2_skips_output_layer": "The output layer's W is left out of the L2 penalty: regularise every layer's W.",
    "fc_net.l2_output_missing_in_loss": "The loss leaves the output layer's W out of the L2 penalty although the gradients include reg * W for it: add 0.5 * reg * sum(W**2) for every layer's W to the loss.",
    "fc_net.l2_on_all_params": "The L2 penalty also covers biases (or gamma/beta): regularise the weights W only.",
    "fc_net.dropout_not_called": "With dropout > 0 in training mode the net never calls dropout_forward: add a dropout layer after each hidden ReLU.",
    "fc_net.dropout_called_twice": "dropout_forward is called twice per layer (one call's output for the forward pass, another call's cache for the backward pass), so the backward pass uses a different mask: call it once and keep both out and cache.",
    "fc_net.dropout_on_output": "Dropout is applied to the output layer: use it only after the hidden ReLUs.",
    "fc_net.dropout_on_input": "Dropout is applied to the input X: use it only after the hidden ReLUs.",
    "fc_net.dropout_before_batchnorm": "Dropout is applied before batchnorm: put it after the ReLU (between batchnorm and ReLU is also fine).",
    "fc_net.dropout_wrong_layers": "dropout_forward was called {calls} time(s) for {hidden} hidden layer(s): add exactly one dropout layer after each hidden ReLU.",
    "fc_net.dropout_at_test": "loss(X) with y=None still applies dropout: in test mode dropout must be the identity.",
    "fc_net.bn_mode_template_bug": "The template line `bn_param[mode] = mode` sets a key named after the mode instead of 'mode', so batchnorm stays in train mode at test time: write bn_param['mode'] = mode.",
    "fc_net.bn_called_twice": "batchnorm_forward runs twice per layer in one loss call, so the running statistics are updated twice per step: call it once and keep both out and cache.",
    "fc_net.gamma_beta_swapped": "The net passes beta where gamma is expected (and gamma for beta): match the argument order of your batchnorm helper's signature.",
    "fc_net.bn_running_stats_not_kept": "After training calls the net's bn_params hold no running statistics (is batchnorm_forward given a fresh dict?): pass each layer its own bn_param from self.bn_params, so test mode can use the running averages.",
    "fc_net.bn_test_batch_stats": "At test time batchnorm normalises with the batch statistics instead of the running ones.",
    # --- optim ---------------------------------------------------------------------------------
    "optim.state_not_stored": "config[{key!r}] is not stored back into the returned config, so the state restarts every step.",
    "optim.nesterov_sign": "The Nesterov update has a sign error: expected w + v' + momentum * (v' - v) with v' = momentum * v - lr * dw.",
    "optim.nesterov_is_momentum": "sgd_nesterov_momentum performs a plain momentum update: add the look-ahead term momentum * (v' - v).",
    "optim.adam_no_bias_correction": "adam does not bias-correct its moments: divide v by (1 - beta1**t) and a by (1 - beta2**t) after incrementing t.",
    "optim.adam_t_after": "adam increments t after the bias correction: increment t first (t starts at 0, the first step uses t = 1).",
    "optim.wrong_update": "The update differs from the expected rule.",
}


class _Default(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def describe(diag_id: str | None, **facts: Any) -> str:
    """The message for a diagnosis, with the measured facts filled in (missing ones left as-is)."""
    if not diag_id:
        return ""
    template = DIAGNOSES.get(diag_id, diag_id)
    try:
        return template.format_map(_Default(facts))
    except (ValueError, TypeError, KeyError, IndexError):
        return template


def first_match(got: Any, candidates: Iterable[tuple[str, Callable[[], Any] | Any]], *,
                rtol: float = 1e-6) -> str | None:
    """Id of the first candidate buggy formula whose output equals the student's output."""
    for diag_id, candidate in candidates:
        try:
            value = candidate() if callable(candidate) else candidate
        except (ArithmeticError, ValueError, TypeError, FloatingPointError):
            continue
        with np.errstate(all="ignore"):
            if value is not None and matches(got, value, rtol=rtol):
                return diag_id
    return None
