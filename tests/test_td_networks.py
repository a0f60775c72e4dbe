"""The topological derivative on every growable network (MLP, CNN, ViT): exact identities.

- A zero block is the identity at every depth.
- phi^T Q_l phi equals minus the second derivative of J along phi, computed by autograd
  (double backward) through the grown network: checks the rows (im2col patches and their
  ordering against the convolution weight) and the costates at once.
- Computing states and costates chunk by chunk changes nothing.
- The eps -> 0 check of the predicted loss change.
"""

from __future__ import annotations

import copy

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from sciml_grow.growth import topological as td
from sciml_grow.nets import BlockSpec, GrowableCNN, GrowableMLP, GrowableViT


def mse(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.mean((p - t) ** 2)


def cross_entropy(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.nn.functional.cross_entropy(p, t)


def _fit(net, x, y, loss_fn, steps=150):
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(net(x), y).backward()
        opt.step()
    return net


def make_case(kind: str):
    """(network, x, y, loss) fitted for a while, float64."""
    torch.manual_seed(1)
    if kind == "mlp":
        x = torch.randn(120, 5, dtype=torch.float64)
        y = torch.sin(x @ torch.randn(5, 3, dtype=torch.float64))
        net = GrowableMLP(5, 3, 6, [BlockSpec("tanh"), BlockSpec("tanh")]).double()
        return _fit(net, x, y, mse), x, y, mse
    if kind.startswith("vit"):
        x = torch.randn(40, 64, dtype=torch.float64)  # one 8 x 8 channel: 4 patches of 4 x 4
        std = [BlockSpec(form="transformer")]
        if kind == "vit-field":
            y = torch.tanh(x + x.roll(1, dims=1))
            net = GrowableViT([1, 8, 8], 64, 8, std, patch=4, heads=2).double()
            return _fit(net, x, y, mse), x, y, mse
        y = (x[:, :32].sum(1) > 0).long() + (x[:, 32:].sum(1) > 0).long()
        net = GrowableViT([1, 8, 8], 3, 8, std, patch=4, heads=2, head="classes").double()
        return _fit(net, x, y, cross_entropy), x, y, cross_entropy
    x = torch.randn(40, 2 * 6 * 5, dtype=torch.float64)  # 2 channels, 6 x 5 pixels
    if kind == "cnn-field":
        y = torch.tanh(x.reshape(40, 2, 6, 5).sum(1).flatten(1))  # one output channel
        net = GrowableCNN([2, 6, 5], 30, 4, [BlockSpec("tanh")] * 2, kernel=3).double()
        return _fit(net, x, y, mse), x, y, mse
    y = (x[:, :30].sum(1) > 0).long() + (x[:, 30:].sum(1) > 0).long()  # 3 classes
    net = GrowableCNN([2, 6, 5], 3, 4, [BlockSpec("tanh")], kernel=3, head="classes").double()
    return _fit(net, x, y, cross_entropy), x, y, cross_entropy


KINDS = ["mlp", "cnn-field", "cnn-classes", "vit-field", "vit-classes"]


@pytest.fixture(scope="module", params=KINDS)
def case(request):
    return make_case(request.param)


def test_zero_block_is_the_identity_at_every_depth(case):
    net, x, _, _ = case
    with torch.no_grad():
        ref = net(x)
    for pos in range(net.depth + 1):
        grown = copy.deepcopy(net)
        grown.insert_block(pos, BlockSpec("silu2-tanh"))
        with torch.no_grad():
            assert torch.equal(grown(x), ref), pos


def test_quadratic_form_is_minus_the_second_derivative_along_phi(case):
    net, x, y, loss_fn = case
    states, costates, _ = td.states_and_costates(net, x, y, loss_fn)
    gen = torch.Generator().manual_seed(3)
    for pos in range(net.depth + 1):
        q = td.q_blocks(*net.td_rows(states[pos], costates[pos]), d2=1.0)
        phi = torch.randn(net.direction_shape(), generator=gen, dtype=torch.float64)
        form = float(torch.einsum("ri,rij,rj->", phi, q, phi))
        grown = copy.deepcopy(net)
        block = grown.insert_block(pos, BlockSpec("silu2-tanh"))
        eps = torch.zeros((), dtype=torch.float64, requires_grad=True)
        layer = block.layer
        del layer.weight, layer.bias  # parametrize the new block by eps alone
        layer.weight = eps * phi[:, :-1].reshape(net.make_block(BlockSpec()).layer.weight.shape)
        layer.bias = eps * phi[:, -1]
        with sdpa_kernel(SDPBackend.MATH):  # the fused CPU attention has no double backward
            J = loss_fn(grown(x), y)
            (d1,) = torch.autograd.grad(J, eps, create_graph=True)
            (d2,) = torch.autograd.grad(d1, eps)
        assert abs(float(d1.detach())) < 1e-12  # sigma'(0) = 0: no first-order change
        assert float(d2) == pytest.approx(-form, rel=1e-9, abs=1e-12), pos


def test_chunked_sensitivity_equals_the_whole_set(case):
    net, x, y, loss_fn = case
    whole, j_whole = td.sensitivity(net, x, y, loss_fn, d2=1.0, chunk=len(x))
    chunked, j_chunked = td.sensitivity(net, x, y, loss_fn, d2=1.0, chunk=7)
    torch.testing.assert_close(chunked.scores, whole.scores, rtol=1e-10, atol=1e-14)
    assert j_chunked == pytest.approx(j_whole, rel=1e-12)


def test_predicted_change_matches_the_realized_one_as_eps_shrinks(case):
    net, x, y, loss_fn = case
    sens, j0 = td.sensitivity(net, x, y, loss_fn, d2=1.0)
    phi = td.direction(sens, "top1")
    qf = td.quadratic_form(sens, phi)
    ratios = []
    for eps in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3):
        grown = copy.deepcopy(net)
        td.set_block_params(grown.insert_block(sens.best, BlockSpec("silu2-tanh")), phi, eps)
        with torch.no_grad():
            ratios.append((float(loss_fn(grown(x), y)) - j0) / (-0.5 * eps**2 * qf))
    errors = [abs(r - 1) for r in ratios]
    assert errors[-1] < 0.01 and errors[-1] < 0.2 * errors[0], ratios  # O(eps) convergence


def test_row_subsampled_q_is_unbiased():
    """A CNN's Q sums over samples x pixels; a random third of the rows, rescaled, estimates
    it without bias (the mean of many draws converges to it), and all rows give it exactly."""
    net, x, y, loss_fn = make_case("cnn-field")
    exact, _ = td.q_matrices(net, x, y, loss_fn, d2=1.0)
    rows = len(x) * 30
    same, _ = td.q_matrices(net, x, y, loss_fn, d2=1.0, max_rows=rows)
    for a, b in zip(same, exact, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=0)
    gen = torch.Generator().manual_seed(0)
    draws = [
        td.q_matrices(net, x, y, loss_fn, 1.0, max_rows=rows // 3, rng=gen)[0] for _ in range(200)
    ]
    for depth, q in enumerate(exact):
        mean = torch.stack([d[depth] for d in draws]).mean(0)
        single = draws[0][depth]
        err, err1 = (mean - q).norm() / q.norm(), (single - q).norm() / q.norm()
        assert err < 0.1 and err < err1 / 5, (depth, float(err), float(err1))


@pytest.mark.parametrize("kind", ["cnn-classes", "vit-field", "vit-classes"])
@pytest.mark.parametrize(
    "strategy", ["td", "random-1", "random-2", "net2deeper", "forward-thinking"]
)
def test_every_strategy_grows_cnns_and_vits(kind, strategy):
    from sciml_grow.growth import get_strategy
    from sciml_grow.growth.strategies import GrowthContext

    from .conftest import quick_config

    net, x, y, loss_fn = make_case(kind)
    cfg = quick_config(**{"model.kind": kind.split("-")[0]})
    ctx = GrowthContext(copy.deepcopy(net), x, y, loss_fn, cfg, torch.Generator().manual_seed(0))
    event = get_strategy(strategy).grow(ctx)
    assert event.inserted and ctx.model.depth == net.depth + 1
    with torch.no_grad():
        out = ctx.model(x)
    assert out.shape == net(x).shape and torch.isfinite(out).all()
    if strategy in ("td", "net2deeper"):  # random directions may raise it a little
        assert event.train_loss_after <= event.train_loss_before + 1e-12


def test_cnn_gathers_exactly_the_sampled_im2col_rows():
    net, x, y, loss_fn = make_case("cnn-field")
    states, costates, _ = td.states_and_costates(net, x, y, loss_fn)
    s, p = states[1], costates[1]
    u_all, p_all = net.td_rows(s, p)
    u, q = net.td_sample_rows(s, p, 0.3, torch.Generator().manual_seed(4))
    mask = torch.rand(len(u_all), generator=torch.Generator().manual_seed(4)) < 0.3
    torch.testing.assert_close(u, u_all[mask], rtol=0, atol=0)
    torch.testing.assert_close(q, p_all[mask] / 0.3, rtol=0, atol=0)
