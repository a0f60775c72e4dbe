"""Ways of growing a network in depth, behind one small interface the trainer calls.

Each strategy builds the starting network and, when the trainer decides it is time to grow,
changes the network in place and reports what it did as a :class:`GrowthEvent`. The trainer
owns everything else (optimizer, epochs, validation, checkpoints), so a strategy never copies
the training loop. docs/method.md, sections 2 and 3.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
import math
import time
from typing import Any, ClassVar

import torch
from torch import nn

from sciml_grow.distributed import Group
from sciml_grow.growth import topological as td
from sciml_grow.nets import BlockSpec, GrowableNet, build, gaussian_init, new_network
from sciml_grow.nets.activations import get_activation
from sciml_grow.objective import Objective

LossFn = td.LossFn


@dataclass
class GrowthContext:
    """What a strategy may look at and change when asked to grow (it may replace ``model``)."""

    model: nn.Module
    x: torch.Tensor  # standardized training inputs (the whole training set)
    y: torch.Tensor
    loss_fn: LossFn  # the data misfit J on (prediction, target)
    cfg: Any  # TrainConfig
    rng: torch.Generator
    at_max_depth: bool = False  # the network has growth.max_blocks blocks
    stalled: bool = False  # the last phase did not improve the best validation loss
    loss_before: float = math.nan  # J of the network before this growth step
    group: Group = field(default_factory=Group)  # with DDP: x, y are this rank's shard
    share: float = 1.0  # ... which is this share of the training split

    @torch.no_grad()
    def train_loss(self) -> float:
        """J over the whole training split, in chunks (summed over the ranks' shards)."""
        total, n = 0.0, len(self.x)
        for i in range(0, n, 8192):
            xb, yb = self.x[i : i + 8192], self.y[i : i + 8192]
            total += float(self.loss_fn(self.model(xb), yb)) * len(xb)
        if not self.group.active:
            return total / n
        return float(self.group.sum_(torch.tensor(total / n * self.share, dtype=torch.float64)))

    def reduce_q(self, qs: list[torch.Tensor], loss: float) -> tuple[list[torch.Tensor], float]:
        """The Q blocks and J of the whole training split from this rank's shard's."""
        if not self.group.active:
            return qs, loss
        flat = torch.cat([q.reshape(-1) for q in qs] + [torch.tensor([loss], dtype=qs[0].dtype)])
        self.group.sum_(flat.mul_(self.share))
        out, at = [], 0
        for q in qs:
            out.append(flat[at : at + q.numel()].view_as(q))
            at += q.numel()
        return out, float(flat[-1])


@dataclass
class GrowthEvent:
    """One growth decision; ``inserted`` False means growth stops (``reason`` says why)."""

    inserted: bool
    reason: str
    position: int | None = None
    scores: list[float] = field(default_factory=list)
    eps: float = math.nan
    predicted_change: float = math.nan
    train_loss_before: float = math.nan
    train_loss_after: float = math.nan
    n_params_before: int = 0
    n_params_after: int = 0
    seconds: float = 0.0
    stage: str = "insert"
    sparsity: dict[str, float] = field(default_factory=dict)


def starting_network(model: Any, data: Any) -> GrowableNet:
    """``model.initial_blocks`` blocks of ``model.activation`` (a ModelConfig), shaped for the
    data, with ``model.init_std``'s initialization if set: where most strategies start."""
    blocks = [BlockSpec(activation=model.activation) for _ in range(model.initial_blocks)]
    return initialized(new_network(model, data, blocks), model)


def initialized(net: GrowableNet, model: Any) -> GrowableNet:
    """``net`` with ``model.init_std``'s Gaussian initialization, if one is set."""
    if model.init_std is not None:
        gaussian_init(net, model.init_std)
    return net


@dataclass
class Start:
    """What a strategy starts from besides the config, resolved by the trainer from other runs:
    the kept architecture of a finished run (``baseline_from``) and a pretrained model bundle
    (``finetune.pretrained``). Strategies never read run directories themselves."""

    architecture: dict[str, Any] | None = None
    pretrained: dict[str, Any] | None = None


class Strategy:
    """Base class: the starting network and how to grow it."""

    name: ClassVar[str]
    grows: ClassVar[bool] = True
    trigger: ClassVar[str | None] = None  # a strategy's own growth.trigger (None: the config's)
    decides_at_start: ClassVar[bool] = False  # its starting network takes a decision (FLOPs)

    def __init__(self, start: Start | None = None):
        self.start = start or Start()

    def prepare(self, data: Any, cfg: Any) -> None:
        """Adjust the data before training starts (fine-tuning keeps a pretrained scaling)."""

    def initial_model(self, data: Any, cfg: Any) -> GrowableNet:
        return starting_network(cfg.model, data)

    def objective(self, data: Any, cfg: Any, dtype: torch.dtype, device: Any) -> Objective:
        """What the trainer minimizes: plain MSE on the training split unless overridden."""
        return Objective(*data.tensors("train", dtype, device), data.loss_fn)

    def finalize(self, net: nn.Module, cfg: Any) -> None:
        """Last touch on the kept network before it is evaluated (layerwise prunes it)."""

    def grow(self, ctx: GrowthContext) -> GrowthEvent:
        if ctx.at_max_depth:
            return GrowthEvent(False, f"maximum depth {ctx.cfg.growth.max_blocks} reached")
        if ctx.stalled:
            return GrowthEvent(False, "validation stopped improving")
        return self._timed(ctx)

    def _timed(self, ctx: GrowthContext) -> GrowthEvent:
        start, before = time.perf_counter(), ctx.model.n_params()
        ctx.loss_before = ctx.train_loss()
        event = self._grow(ctx)
        event.train_loss_before = ctx.loss_before
        event.n_params_before, event.n_params_after = before, ctx.model.n_params()
        if event.inserted:
            event.train_loss_after = ctx.train_loss()
        event.seconds = time.perf_counter() - start
        return event

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        raise NotImplementedError


def random_direction(shape: torch.Size, rng: torch.Generator) -> torch.Tensor:
    phi = torch.randn(shape, generator=rng, dtype=torch.float64)
    return phi / phi.norm()


def random_placement(model: nn.Module, rng: torch.Generator) -> tuple[int, torch.Tensor]:
    """A uniformly random insertion depth and a random unit direction for the new block."""
    pos = int(torch.randint(0, model.depth + 1, (1,), generator=rng))
    return pos, random_direction(model.direction_shape(), rng)


def td_sensitivity(ctx: GrowthContext) -> td.Sensitivity:
    """The topological derivative of ``ctx``'s network on its training set (or on a random
    subset of ``growth.td_samples`` samples and about ``growth.td_rows`` rows)."""
    g = ctx.cfg.growth
    d2 = get_activation(ctx.cfg.model.insert_activation).d2_at_zero
    x, y = ctx.x, ctx.y
    if 0 < g.td_samples < len(x):  # Q is a sample average: estimate it on a random subset
        idx = torch.randperm(len(x), generator=ctx.rng)[: g.td_samples].to(x.device)
        x, y = x[idx], y[idx]
    sens, _ = td.sensitivity(
        ctx.model, x, y, ctx.loss_fn, d2, max_rows=g.td_rows, rng=ctx.rng, reduce=ctx.reduce_q
    )
    return sens


def searched_insert(
    ctx: GrowthContext,
    position: int,
    phi: torch.Tensor,
    origin: str,
    loss0: float,
    activation: str | None = None,
) -> tuple[nn.Module, float]:
    """Insert a block at ``position`` along ``phi`` (activation ``model.insert_activation``
    unless given); eps by line search."""
    g = ctx.cfg.growth
    spec = BlockSpec(activation=activation or ctx.cfg.model.insert_activation, origin=origin)
    block = ctx.model.insert_block(position, spec)
    eps, _, _ = td.line_search(
        ctx.train_loss,
        lambda e: td.set_block_params(block, phi, e),
        g.eps_step,
        g.eps_max_steps,
        loss0=loss0,
    )
    return block, eps


class TopologicalDerivative(Strategy):
    """Insert where lambda_max(Q_l) is largest, initialized along its top eigenvector(s)."""

    name = "td"

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        g = ctx.cfg.growth
        sens = td_sensitivity(ctx)
        scores = sens.scores.tolist()
        if max(scores) <= g.score_tol:
            return GrowthEvent(False, f"no score above {g.score_tol:g}", scores=scores)
        pos = sens.best
        phi = td.direction(sens, g.td_init, g.td_ratio)
        block, eps = searched_insert(ctx, pos, phi, self.name, ctx.loss_before)
        self._finish(ctx, block, phi, eps)
        predicted = td.predicted_change(td.quadratic_form(sens, phi), eps)
        return GrowthEvent(True, "inserted", pos, scores, eps, predicted)

    def _finish(self, ctx: GrowthContext, block: nn.Module, phi: torch.Tensor, eps: float) -> None:
        """Hook for variants that keep td's position and eps but change the initialization."""


class SensitivityInsertion(Strategy):
    """sensli: first-order sensitivity of layer insertion. A zero block with an activation of
    sigma'(0) != 0 (``model.activation``) is a virtual layer at every depth; the norm of the
    loss gradient with respect to its parameters says where, the negative gradient how, and
    the line search how far (docs/method.md, section 3)."""

    name = "sensli"

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        g, act = ctx.cfg.growth, ctx.cfg.model.activation
        grads, _ = td.layer_gradients(
            ctx.model, ctx.x, ctx.y, ctx.loss_fn, get_activation(act).d1_at_zero
        )
        grads, _ = ctx.reduce_q(grads, 0.0)  # with DDP: the sums over every rank's shard
        scores = [float(gr.norm()) for gr in grads]
        if max(scores) <= g.score_tol:
            return GrowthEvent(False, f"no score above {g.score_tol:g}", scores=scores)
        pos = int(torch.tensor(scores).argmax())
        phi = -grads[pos] / scores[pos]
        _, eps = searched_insert(ctx, pos, phi, self.name, ctx.loss_before, activation=act)
        return GrowthEvent(True, "inserted", pos, scores, eps, -eps * scores[pos])


class RandomAtTDPosition(TopologicalDerivative):
    """random-1: td's position and eps (the init's norm), a random direction."""

    name = "random-1"

    def _finish(self, ctx: GrowthContext, block: nn.Module, phi: torch.Tensor, eps: float) -> None:
        block.spec.origin = self.name
        td.set_block_params(block, random_direction(phi.shape, ctx.rng), eps)


class RandomInsertion(Strategy):
    """random-2: a random position and a random direction (eps by the same line search)."""

    name = "random-2"

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        pos, phi = random_placement(ctx.model, ctx.rng)
        _, eps = searched_insert(ctx, pos, phi, self.name, ctx.loss_before)
        return GrowthEvent(True, "inserted", pos, eps=eps)


class Periodic(Strategy):
    """periodic: the AutoGrow-style baseline. Every ``growth.every`` epochs, whatever the
    validation loss does, a block of ``model.activation`` at a uniformly random depth with
    PyTorch's default (random) initialization; growth stops only at the maximum depth."""

    name = "periodic"
    trigger = "schedule"

    def grow(self, ctx: GrowthContext) -> GrowthEvent:
        if ctx.at_max_depth:
            return GrowthEvent(False, f"maximum depth {ctx.cfg.growth.max_blocks} reached")
        return self._timed(ctx)

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        pos = int(torch.randint(0, ctx.model.depth + 1, (1,), generator=ctx.rng))
        spec = BlockSpec(activation=ctx.cfg.model.activation, origin=self.name)
        default_init_(ctx.model.insert_block(pos, spec), ctx.rng)
        return GrowthEvent(True, "inserted", pos)


@torch.no_grad()
def default_init_(module: nn.Module, rng: torch.Generator) -> None:
    """PyTorch's default initialization of every linear and convolution layer in ``module``
    (uniform in +-1/sqrt(fan_in)), drawn from ``rng`` so that runs reproduce."""
    for layer in module.modules():
        if isinstance(layer, nn.Linear | nn.Conv2d):
            bound = 1.0 / math.sqrt(layer.weight[0].numel())
            for p in (layer.weight, layer.bias):
                u = torch.rand(p.shape, generator=rng, dtype=torch.float64)
                p.copy_((2 * u - 1) * bound)


class Net2Deeper(Strategy):
    """Net2DeeperNet: an identity block at the end (zero residual; its activation has
    sigma'(0) != 0, so the zero block still receives gradients)."""

    name = "net2deeper"

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        pos = ctx.model.depth
        ctx.model.insert_block(
            pos, BlockSpec(activation=ctx.cfg.model.activation, origin=self.name)
        )
        return GrowthEvent(True, "inserted", pos, eps=0.0)


class ForwardThinking(Strategy):
    """Forward Thinking: freeze everything, add a non-residual layer on top (N(0, s^2) init)
    and a fresh output layer."""

    name = "forward-thinking"

    def _grow(self, ctx: GrowthContext) -> GrowthEvent:
        model, std = ctx.model, ctx.cfg.growth.ft_init_std
        model.freeze_trunk()
        pos = model.depth
        spec = BlockSpec(activation=ctx.cfg.model.activation, residual=False, origin=self.name)
        block = model.insert_block(pos, spec)
        ref = next(model.head.parameters())
        head = model.make_head().to(device=ref.device, dtype=ref.dtype)
        with torch.no_grad():
            for p in (block.layer.weight, block.layer.bias):
                p.copy_(std * torch.randn(p.shape, generator=ctx.rng, dtype=torch.float64))
        default_init_(head, ctx.rng)
        model.set_head(head)
        return GrowthEvent(True, "inserted", pos, eps=std)


class Baseline(Strategy):
    """The final architecture trained from scratch: no growth."""

    name = "baseline"
    grows = False

    def initial_model(self, data: Any, cfg: Any) -> GrowableNet:
        if self.start.architecture is not None:  # the kept architecture of a finished run
            spec = copy.deepcopy(self.start.architecture)
            for b in spec["blocks"]:
                b.update(trainable=True, origin="baseline")
            spec.update(lift_trainable=True, head_trainable=True)
            return initialized(build(spec), cfg.model)
        m = cfg.model
        depth = m.initial_blocks if cfg.baseline_blocks is None else cfg.baseline_blocks
        blocks = [BlockSpec(activation=m.activation, origin="baseline") for _ in range(depth)]
        return initialized(new_network(m, data, blocks), m)
