"""Cross-check the reference's batchnorm and FullyConnectedNet gradients with torch autograd: an
independent implementation of the same math, in float64."""

import numpy as np
import pytest

from autograder.refimpl import ref

torch = pytest.importorskip("torch")
F = torch.nn.functional

layers = ref.layers
fc_net = ref.fc_net


def t(a, grad=False):
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("N,D,scale", [(4, 5, 5.0), (16, 9, 0.2), (64, 3, 30.0)])
def test_batchnorm_forward_backward_match_torch(N, D, scale):
    rng = np.random.default_rng(N)
    x = scale * rng.standard_normal((N, D)) + 3
    gamma, beta = rng.standard_normal(D), rng.standard_normal(D)
    dout = rng.standard_normal((N, D))
    running_mean, running_var = rng.standard_normal(D), rng.random(D) + 0.5

    bn_param = {"mode": "train", "running_mean": running_mean.copy(), "running_var": running_var.copy()}
    out, cache = layers.batchnorm_forward(x, gamma, beta, bn_param)
    dx, dgamma, dbeta = layers.batchnorm_backward(dout, cache)

    xt, gt, bt = t(x, True), t(gamma, True), t(beta, True)
    rm, rv = t(running_mean), t(running_var)
    out_t = F.batch_norm(xt, rm, rv, gt, bt, training=True, momentum=0.1, eps=1e-5)
    out_t.backward(t(dout))
    np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(dgamma, gt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dbeta, bt.grad.numpy(), rtol=1e-10, atol=1e-12)
    # torch's momentum is our 1 - momentum; its running mean matches ours exactly. (torch keeps
    # an unbiased running variance, our homework a biased one, so only the mean is compared.)
    np.testing.assert_allclose(bn_param["running_mean"], rm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(bn_param["running_var"], 0.9 * running_var + 0.1 * x.var(0), rtol=1e-12)

    bn_param["mode"] = "test"
    out_test, _ = layers.batchnorm_forward(x, gamma, beta, bn_param)
    expected = F.batch_norm(t(x), t(bn_param["running_mean"]), t(bn_param["running_var"]),
                            t(gamma), t(beta), training=False, eps=1e-5)
    np.testing.assert_allclose(out_test, expected.numpy(), rtol=1e-10, atol=1e-12)


def torch_loss(model, X, y, masks):
    """The same architecture in torch: {affine - [BN] - relu - [dropout mask]} x (L-1) - affine -
    softmax cross-entropy + 0.5 * reg * sum ||W||^2; returns (loss, {name: tensor})."""
    params = {k: t(v, True) for k, v in model.params.items()}
    h = t(X)
    L = model.num_layers
    for i in range(1, L):
        h = h @ params[f"W{i}"] + params[f"b{i}"]
        if model.use_batchnorm:
            h = F.batch_norm(h, None, None, params[f"gamma{i}"], params[f"beta{i}"], training=True, eps=1e-5)
        h = torch.relu(h)
        if model.use_dropout:
            h = h * t(masks[i - 1])
    scores = h @ params[f"W{L}"] + params[f"b{L}"]
    loss = F.cross_entropy(scores, torch.tensor(y))
    loss = loss + 0.5 * model.reg * sum((params[f"W{i}"] ** 2).sum() for i in range(1, L + 1))
    loss.backward()
    return loss.item(), {k: p.grad.numpy() for k, p in params.items()}


@pytest.mark.parametrize("dropout", [0, 0.5])
@pytest.mark.parametrize("use_batchnorm", [False, True])
@pytest.mark.parametrize("reg", [0.0, 0.7])
def test_fc_net_loss_and_grads_match_torch(monkeypatch, dropout, use_batchnorm, reg):
    np.random.seed(11)
    model = fc_net.FullyConnectedNet([32, 24, 16], input_dim=20, num_classes=7, weight_scale=0.1,
                                     dtype=np.float64, dropout=dropout, use_batchnorm=use_batchnorm, reg=reg)
    rng = np.random.default_rng(12)
    for name, value in model.params.items():
        if not name.startswith("W"):
            model.params[name] = value + 0.1 * rng.standard_normal(value.shape)
    X = rng.standard_normal((25, 20))
    y = rng.integers(7, size=25)

    masks = []  # capture the (unseeded) dropout masks the reference draws, to reuse them in torch
    real = fc_net.dropout_forward

    def recording(x, param):
        out, cache = real(x, param)
        masks.append(cache[1])
        return out, cache

    monkeypatch.setattr(fc_net, "dropout_forward", recording)
    loss, grads = model.loss(X, y)
    assert len(masks) == (3 if dropout else 0)

    loss_t, grads_t = torch_loss(model, X, y, masks)
    assert loss == pytest.approx(loss_t, rel=1e-12)
    assert set(grads) == set(grads_t)
    for name in grads:
        np.testing.assert_allclose(grads[name], grads_t[name], rtol=1e-7, atol=1e-10, err_msg=name)
