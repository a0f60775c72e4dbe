"""Growable MLP and the topological derivative: exact identities and the eps -> 0 check."""

from __future__ import annotations

import copy

import pytest
import torch

from sciml_grow.growth import topological as td
from sciml_grow.nets import BlockSpec, GrowableMLP, build
from sciml_grow.nets.activations import ACTIVATIONS


def mse(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return torch.mean((p - t) ** 2)


@pytest.fixture(scope="module")
def trained():
    """A small residual MLP fitted for a while to a smooth map (float64)."""
    torch.manual_seed(0)
    m, d, n, o = 300, 5, 8, 3
    x = torch.randn(m, d, dtype=torch.float64)
    y = torch.sin(x @ torch.randn(d, o, dtype=torch.float64))
    net = GrowableMLP(d, o, n, [BlockSpec("tanh"), BlockSpec("elu")]).double()
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    for _ in range(200):
        opt.zero_grad()
        mse(net(x), y).backward()
        opt.step()
    return net, x, y


def test_activation_derivatives_at_zero_are_as_declared():
    z = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    checked = 0
    for name, act in ACTIVATIONS.items():
        (d1,) = torch.autograd.grad(act.fn(z), z, create_graph=True)
        # a constant first derivative (identity, relu) has no graph: its derivative is 0
        d2 = torch.autograd.grad(d1, z)[0] if d1.requires_grad else torch.zeros(1)
        assert float(act.fn(z).detach()) == 0.0, name
        if act.d1_at_zero == act.d1_at_zero:  # nan: not differentiable at 0
            assert float(d1.detach()) == pytest.approx(act.d1_at_zero, abs=1e-12), name
        if act.d2_at_zero == act.d2_at_zero:
            assert float(d2) == pytest.approx(act.d2_at_zero, abs=1e-12), name
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("activation", ["silu2-tanh", "tanh", "elu"])
def test_zero_block_changes_outputs_by_exactly_zero_at_every_depth(trained, activation):
    net, x, _ = trained
    with torch.no_grad():
        ref = net(x)
    for pos in range(net.depth + 1):
        grown = copy.deepcopy(net)
        grown.insert_block(pos, BlockSpec(activation))
        with torch.no_grad():
            assert torch.equal(grown(x), ref), pos
        assert grown.depth == net.depth + 1


def test_costates_match_a_hand_written_adjoint(trained):
    """p_T = -W_out^T dJ/dy;  p_t = p_{t+1} + W_t^T (sigma'(a_t) * p_{t+1}) for residual blocks."""
    net, x, y = trained
    states, costates, _ = td.states_and_costates(net, x, y, mse)
    with torch.no_grad():
        out = net(x)
        p = -(2.0 / out.numel()) * (out - y) @ net.head.weight
        expected = [p]
        for t in reversed(range(net.depth)):
            a = states[t] @ net.blocks[t].linear.weight.T + net.blocks[t].linear.bias
            a.requires_grad_(True)
            with torch.enable_grad():
                (dsig,) = torch.autograd.grad(net.blocks[t].act(a).sum(), a)
            p = p + (dsig * p) @ net.blocks[t].linear.weight
            expected.insert(0, p)
    assert len(costates) == net.depth + 1
    for got, want in zip(costates, expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-14)


def test_block_eigenvalues_equal_the_dense_matrix(trained):
    net, x, y = trained
    states, costates, _ = td.states_and_costates(net, x, y, mse)
    n = net.width
    for s, p in zip(states, costates, strict=True):
        blocks = td.q_blocks(s, p, d2=1.0, chunk=37)  # odd chunk: exercises the accumulation
        xt = torch.cat([s, torch.ones(len(s), 1, dtype=s.dtype)], 1)
        dense = torch.zeros(n * (n + 1), n * (n + 1), dtype=torch.float64)
        for i in range(len(s)):  # the definition, sample by sample, as one big matrix
            outer = torch.outer(xt[i], xt[i])
            dense += torch.block_diag(*[p[i, r] * outer for r in range(n)])
        lam_dense = torch.linalg.eigvalsh(dense).max()
        lam_blocks = torch.linalg.eigvalsh(blocks).max()
        assert float(lam_blocks) == pytest.approx(float(lam_dense), rel=1e-10)


@pytest.mark.parametrize("mode", ["top1", "within"])
def test_predicted_loss_change_matches_realized_change_as_eps_shrinks(trained, mode):
    """The paper's Figure 1 check: (J(eps) - J(0)) / (-(eps^2/2) phi^T Q phi) -> 1."""
    net, x, y = trained
    sens, j0 = td.sensitivity(net, x, y, mse, d2=1.0)
    assert float(sens.scores.max()) > 0
    pos = sens.best
    phi = td.direction(sens, mode)
    assert float(phi.norm()) == pytest.approx(1.0)
    qf = td.quadratic_form(sens, phi)
    if mode == "top1":
        assert qf == pytest.approx(float(sens.scores[pos]), rel=1e-12)
    ratios = []
    for eps in (3e-2, 1e-2, 3e-3, 1e-3):
        grown = copy.deepcopy(net)
        td.set_block_params(grown.insert_block(pos, BlockSpec("silu2-tanh")), phi, eps)
        with torch.no_grad():
            realized = float(mse(grown(x), y)) - j0
        ratios.append(realized / (-0.5 * eps**2 * qf))
    errors = [abs(r - 1) for r in ratios]
    assert errors[1] < 0.05, ratios  # within 5% at eps = 1e-2
    assert errors == sorted(errors, reverse=True) and errors[-1] < 0.005, ratios


def test_line_search_keeps_the_best_eps():
    curve = {0.1: 3.0, 0.2: 2.0, 0.3: 1.5, 0.4: 1.7, 0.5: 0.1}
    state = {}
    eps, loss, trials = td.line_search(
        lambda: curve[round(state["eps"], 1)], lambda e: state.update(eps=e), 0.1, 10
    )
    assert (eps, loss) == (pytest.approx(0.3), 1.5)  # stops at the first rise, keeps the best
    assert state["eps"] == pytest.approx(0.3) and len(trials) == 4


def test_line_search_backtracks_when_the_first_step_overshoots():
    state = {}
    loss = lambda: (state["eps"] - 0.01) ** 2 - 1e-4  # noqa: E731  (below 0 only for eps < 0.02)
    eps, best, _ = td.line_search(loss, lambda e: state.update(eps=e), 0.25, 10, loss0=0.0)
    assert best < 0.0 and 0 < eps < 0.02


def test_spec_round_trip_rebuilds_the_grown_network(trained):
    net, x, _ = trained
    grown = copy.deepcopy(net)
    block = grown.insert_block(1, BlockSpec("silu2-tanh", origin="td"))
    with torch.no_grad():
        block.linear.weight.normal_()
    rebuilt = build(grown.spec()).double()
    rebuilt.load_state_dict(grown.state_dict())
    with torch.no_grad():
        assert torch.equal(rebuilt(x), grown(x))
    assert rebuilt.spec() == grown.spec() and rebuilt.blocks[1].spec.origin == "td"


# ELU's second derivative jumps at 0: there central differences are only first order in h
@pytest.mark.parametrize(("activation", "tol"), [("tanh", 1e-7), ("elu", 1e-4)])
def test_sensli_scores_equal_finite_difference_derivatives_of_the_inserted_block(
    trained, activation, tol
):
    """The score at depth l is |dJ/dtheta| of a zero block there: the derivative of J along
    the normalized gradient, which central differences of the real insertion reproduce."""
    net, x, y = trained
    d1 = ACTIVATIONS[activation].d1_at_zero
    grads, loss = td.layer_gradients(net, x, y, mse, d1, chunk=128)  # several chunks
    with torch.no_grad():
        assert loss == pytest.approx(float(mse(net(x), y)), rel=1e-12)
    assert len(grads) == net.depth + 1
    h = 1e-5
    for pos, g in enumerate(grads):
        grown = copy.deepcopy(net)
        block = grown.insert_block(pos, BlockSpec(activation))
        u = g / g.norm()
        values = []
        for eps in (h, -h):
            td.set_block_params(block, u, eps)
            with torch.no_grad():
                values.append(float(mse(grown(x), y)))
        fd = (values[0] - values[1]) / (2 * h)
        assert fd == pytest.approx(float(g.norm()), rel=tol), pos
        # and the gradient itself is autograd's on the inserted block's parameters
        td.set_block_params(block, u, 0.0)
        mse(grown(x), y).backward()
        auto = torch.cat([block.layer.weight.grad, block.layer.bias.grad[:, None]], 1)
        torch.testing.assert_close(auto, g, rtol=1e-10, atol=1e-12)


def test_a_silu2_tanh_block_has_no_first_order_sensitivity(trained):
    net, x, y = trained
    grads, _ = td.layer_gradients(net, x, y, mse, ACTIVATIONS["silu2-tanh"].d1_at_zero)
    assert all(float(g.norm()) == 0 for g in grads)  # why td needs the second order
