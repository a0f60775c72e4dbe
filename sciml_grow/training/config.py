"""Everything a training run decides, as one validated config saved in the run directory."""

from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Literal, get_args

from sciml_grow.config import MAX_SEED, Validated, check
from sciml_grow.data.dataset import DataConfig
from sciml_grow.nets.activations import ACTIVATIONS


@dataclass
class ModelConfig(Validated):
    """Starting network: width, initial depth and activations (``insert_activation`` is the
    one the topological derivative needs: sigma(0) = sigma'(0) = 0, sigma''(0) != 0)."""

    kind: Literal["mlp", "cnn", "vit"] = "mlp"
    width: int = 32  # hidden units (mlp), channels (cnn) or token dimension (vit)
    initial_blocks: int = 2
    activation: str = "tanh"
    lift_activation: str = "tanh"
    insert_activation: str = "silu2-tanh"
    kernel: int = 3  # cnn: k x k convolutions, same padding
    patch: int = 4  # vit: P x P patches
    heads: int = 4  # vit: attention heads (width must be a multiple)
    mlp_ratio: int = 2  # vit: hidden size of a transformer block's MLP / width
    init_std: float | None = None  # starting weights N(0, init_std^2), biases 0; None: torch's
    # pod: the head predicts the coefficients of the POD modes of the standardized training
    # targets (docs/method.md, section 8); output_modes: how many, or a share of their variance
    output_basis: Literal["none", "pod", "prior"] = "none"  # prior: the file's prior basis
    output_modes: float = 0.999
    # pod: predict the coefficients divided by their standard deviations (each output of order
    # one, as a full head's), the loss weighing them back (field space)
    output_whiten: bool = False
    # the same for field inputs (an MLP then reads the coefficients of the inputs' modes)
    input_basis: Literal["none", "pod"] = "none"
    input_modes: float = 0.999

    def validate(self) -> None:
        check(self.width > 0, "model.width", "must be positive")
        check(self.init_std is None or self.init_std > 0, "model.init_std", "must be positive")
        check(self.kernel > 0 and self.kernel % 2 == 1, "model.kernel", "must be odd and > 0")
        for key in ("patch", "heads", "mlp_ratio"):
            check(getattr(self, key) > 0, f"model.{key}", "must be positive")
        check(self.initial_blocks >= 0, "model.initial_blocks", "must be >= 0")
        for key in ("output_modes", "input_modes"):
            value = getattr(self, key)
            check(
                0 < value < 1 or (value >= 1 and float(value).is_integer()),
                f"model.{key}",
                "must be a count of modes (1, 2, ...) or a share of the variance in (0, 1)",
            )
        check(
            self.input_basis == "none" or self.kind == "mlp",
            "model.input_basis",
            "reduces the inputs to coefficients, which only an MLP reads (model.kind = mlp)",
        )
        for key in ("activation", "lift_activation", "insert_activation"):
            check(
                getattr(self, key) in ACTIVATIONS,
                f"model.{key}",
                f"must be one of {', '.join(ACTIVATIONS)}",
            )


@dataclass
class OptimConfig(Validated):
    """Optimizer and learning-rate schedule; batch_size 0 means full batch. ``l1`` > 0 adds a
    sparsity penalty l1 * |w|_1 on every trainable parameter, for any strategy, applied as a
    proximal (soft-thresholding) step after each optimizer step: exact zeros. ``physics`` > 0
    adds physics * Phi_p for any strategy (the re-simulated observations' misfit where the
    file has a forward operator, else its constraints: wind's divergence and ground flow).
    ``schedule`` and what an insertion does to it and to the optimizer's state:
    :mod:`sciml_grow.training.schedule`."""

    name: Literal["adamw", "adam", "sgd"] = "adamw"
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 128
    l1: float = 0.0
    physics: float = 0.0
    schedule: Literal["none", "cosine", "warmup-cosine", "plateau"] = "none"
    min_lr_ratio: float = 0.0  # cosine's end and plateau's floor, as a share of lr
    warmup_epochs: int = 0  # warmup-cosine: epochs of the linear ramp
    warmup_start: float = 0.01  # ... from this share of lr
    plateau_factor: float = 0.5  # plateau: the rate's factor after plateau_patience stale epochs
    plateau_patience: int = 10
    on_insert: Literal["continue", "restart"] = "continue"  # the schedule at an insertion
    insert_state: Literal["keep", "reset"] = "keep"  # the old parameters' optimizer state

    def validate(self) -> None:
        check(0 < self.lr <= 10, "optim.lr", "must lie in (0, 10]")
        check(0 <= self.min_lr_ratio <= 1, "optim.min_lr_ratio", "must lie in [0, 1]")
        check(self.warmup_epochs >= 0, "optim.warmup_epochs", "must be >= 0")
        check(0 < self.warmup_start <= 1, "optim.warmup_start", "must lie in (0, 1]")
        check(0 < self.plateau_factor < 1, "optim.plateau_factor", "must lie in (0, 1)")
        check(self.plateau_patience >= 0, "optim.plateau_patience", "must be >= 0")
        check(
            self.schedule == "warmup-cosine" or self.warmup_epochs == 0,
            "optim.warmup_epochs",
            f"needs optim.schedule = warmup-cosine (it is {self.schedule})",
        )
        check(self.weight_decay >= 0, "optim.weight_decay", "must be >= 0")
        check(self.l1 >= 0, "optim.l1", "must be >= 0")
        check(self.physics >= 0, "optim.physics", "must be >= 0")
        check(self.batch_size >= 0, "optim.batch_size", "must be >= 0 (0 = full batch)")


@dataclass
class GrowthConfig(Validated):
    """When to grow, when to stop, and how strategies initialize new blocks."""

    max_blocks: int = 8
    trigger: Literal["plateau", "schedule"] = "plateau"
    every: int = 100
    patience: int = 20
    min_delta: float = 1e-3
    min_phase_epochs: int = 20
    stop_on_stall: bool = True
    score_tol: float = 0.0
    td_samples: int = 0  # estimate Q on a random subset of this many samples (0 = all)
    td_rows: int = 0  # ... and of about this many rows (samples x pixels or tokens; 0 = all)
    td_init: Literal["within", "top1"] = "within"
    td_ratio: float = 0.5
    eps_step: float = 0.25
    eps_max_steps: int = 40
    ft_init_std: float = 0.005

    def validate(self) -> None:
        check(self.max_blocks >= 0, "growth.max_blocks", "must be >= 0")
        check(self.every > 0, "growth.every", "must be positive")
        check(self.patience > 0, "growth.patience", "must be positive")
        check(self.min_phase_epochs >= 0, "growth.min_phase_epochs", "must be >= 0")
        check(self.score_tol >= 0, "growth.score_tol", "must be >= 0")
        check(self.ft_init_std >= 0, "growth.ft_init_std", "must be >= 0")
        check(self.min_delta >= 0, "growth.min_delta", "must be >= 0")
        check(0 < self.td_ratio <= 1, "growth.td_ratio", "must lie in (0, 1]")
        check(self.td_samples >= 0, "growth.td_samples", "must be >= 0 (0 = all)")
        check(self.td_rows >= 0, "growth.td_rows", "must be >= 0 (0 = all)")
        check(self.eps_step > 0, "growth.eps_step", "must be positive")
        check(self.eps_max_steps > 0, "growth.eps_max_steps", "must be positive")


@dataclass
class LayerwiseConfig(Validated):
    """Layerwise training and sequential residual learning (docs/method.md, sections 4-5).

    Loss = misfit + alpha_l Phi_s + gamma_l Phi_m + tau_l Phi_p with weight_l = weight *
    factor^l for the l-th added layer.
    """

    alpha: float = 1e-5
    alpha_factor: float = 1.0
    gamma: float = 1e-3
    gamma_factor: float = 1.0
    tau: float = 0.0
    tau_factor: float = 1.0
    # proximal: alpha_l |w|_1 by a soft-thresholding step after each optimizer step (exact
    # zeros); subgradient: alpha_l |w|_1 added to the loss (what runs before this option did)
    l1_mode: Literal["proximal", "subgradient"] = "proximal"
    prune_tol: float = 1e-4
    init_std: float = 0.05
    graph: Literal["copies", "kmeans", "knn"] = "copies"
    copies: int = 3
    copy_noise: float = 0.01
    clusters: int = 10
    neighbors: int = 5
    srl_width: int = 10
    srl_max_stages: int = 5

    def validate(self) -> None:
        for key in ("alpha", "gamma", "tau", "prune_tol", "copy_noise"):
            check(getattr(self, key) >= 0, f"layerwise.{key}", "must be >= 0")
        for key in ("alpha_factor", "gamma_factor", "tau_factor", "init_std"):
            check(getattr(self, key) > 0, f"layerwise.{key}", "must be positive")
        for key in ("copies", "clusters", "neighbors", "srl_width", "srl_max_stages"):
            check(getattr(self, key) > 0, f"layerwise.{key}", "must be positive")


@dataclass
class SearchConfig(Validated):
    """Strategy ``search``: architecture and hyperparameter search with Optuna (TPE sampler
    and a pruner), each trial a full training run of a fixed network (sciml_grow.training.
    search). The space: depth in [depth_min, depth_max], width from ``widths``, learning rate
    and weight decay log-uniform; None means the defaults, which contain what the growing
    strategies end with: depths model.initial_blocks..growth.max_blocks, widths model.width
    / 2, model.width and 2 model.width, learning rates optim.lr / 10..10 optim.lr.

    Budget ``trials``: ``trials`` trials. Budget ``match:STRATEGY``: trials until their summed
    training FLOPs reach ``factor`` times the training and decision FLOPs of ``match_run`` (a
    finished run of STRATEGY; compare sets the same seed's), at most ``max_trials``; the
    trial that reaches it stops there and keeps its best-validation network."""

    budget: str = "trials"
    trials: int = 20
    factor: float = 1.0
    max_trials: int = 200
    match_run: str | None = None
    depth_min: int | None = None
    depth_max: int | None = None
    widths: list[int] | None = None
    lr_min: float | None = None
    lr_max: float | None = None
    weight_decay_min: float = 1e-7
    weight_decay_max: float = 1e-2
    pruner: Literal["median", "halving", "none"] = "median"
    startup_trials: int = 5  # TPE samples at random this many trials first

    @property
    def matched(self) -> str | None:
        """The strategy whose compute the budget matches (None: a number of trials)."""
        return self.budget.partition(":")[2] or None

    def validate(self) -> None:
        kind, _, what = self.budget.partition(":")
        check(
            self.budget == "trials" or (kind == "match" and bool(what)),
            "search.budget",
            f"must be 'trials' or 'match:STRATEGY' (e.g. match:td), got {self.budget!r}",
        )
        for key in ("trials", "max_trials", "startup_trials"):
            check(getattr(self, key) > 0, f"search.{key}", "must be positive")
        check(self.factor > 0, "search.factor", "must be positive")
        for key in ("depth_min", "depth_max"):
            value = getattr(self, key)
            check(value is None or value >= 0, f"search.{key}", "must be >= 0")
        check(
            self.widths is None or (bool(self.widths) and min(self.widths) > 0),
            "search.widths",
            "must be a non-empty list of positive widths",
        )
        for key in ("lr_min", "lr_max"):
            value = getattr(self, key)
            check(value is None or 0 < value <= 10, f"search.{key}", "must lie in (0, 10]")
        check(
            0 < self.weight_decay_min <= self.weight_decay_max,
            "search.weight_decay_min",
            "must be positive and at most search.weight_decay_max",
        )


MAX_ADAPTERS = 16
FinetuneMethod = Literal["td-adapters", "random-init-adapters", "random-adapters", "head", "full"]
FINETUNE_METHODS: tuple[str, ...] = get_args(FinetuneMethod)


@dataclass
class FinetuneConfig(Validated):
    """Strategy ``finetune``: adapt a pretrained run to new data (sciml_grow.growth.finetune)."""

    pretrained: str | None = None  # run directory of the pretrained network
    method: FinetuneMethod = "td-adapters"
    adapters: int = 2

    def validate(self) -> None:
        check(
            0 < self.adapters <= MAX_ADAPTERS,
            "finetune.adapters",
            f"must lie in 1..{MAX_ADAPTERS} (each costs a TD decision and a line search)",
        )


@dataclass
class TrainConfig(Validated):
    """A training run. ``epochs`` is the total budget, the same for every strategy."""

    strategy: str = "td"
    epochs: int = 300
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"
    # converged: stop once the validation loss has not improved by a relative
    # early_stopping_delta (None: growth.min_delta) for this many epochs after growth ended
    # (0: train to the budget); the best-validation network is kept, final.json says which
    early_stopping: int = 0
    early_stopping_delta: float | None = None
    # compute budgets (training + decision FLOPs): the test error of the best-validation
    # network seen within each is recorded in final.json ("budgets"); max_flops stops the run
    # at its budget (the epoch that crosses it does not count)
    budgets: list[float] | None = None
    max_flops: float | None = None
    # trajectory.csv: the test error of every new best-validation network with the FLOPs
    # spent, so any budget can be read off afterwards (compare --budgets 0.1x,...)
    trace_test: bool = False
    checkpoint_every: int = 10
    baseline_blocks: int | None = None
    baseline_from: str | None = None  # baseline: a finished run whose architecture it retrains
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    growth: GrowthConfig = field(default_factory=GrowthConfig)
    layerwise: LayerwiseConfig = field(default_factory=LayerwiseConfig)
    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)
    search: SearchConfig = field(default_factory=SearchConfig)

    def __post_init__(self) -> None:
        if isinstance(self.strategy, str):  # TD, Net2Deeper: names in any case, as the command
            self.strategy = self.strategy.strip().lower()
        super().__post_init__()

    def memory_estimate(self, in_dim: int, out_dim: int, batch: int) -> float:
        """Rough bytes of the largest network this run may grow: weights, gradients, two
        optimizer moments and two copies (best, checkpoint), plus a batch's activations."""
        m = self.model
        blocks = max(m.initial_blocks, self.growth.max_blocks) + 1
        spatial = 1 if m.kind == "mlp" else in_dim  # values per channel of a feature map
        activations = 4 * (self.optim.batch_size or batch) * m.width * spatial * blocks
        return self._itemsize * (6 * self._max_params(in_dim, out_dim) + activations)

    def disk_estimate(self, in_dim: int, out_dim: int) -> float:
        """Rough bytes of a run directory: the checkpoint (weights, two optimizer moments, the
        best weights so far) and best.pt, of the largest network, plus 1 MiB of logs."""
        return self._itemsize * 5 * self._max_params(in_dim, out_dim) + 2**20

    @property
    def _itemsize(self) -> int:
        return 8 if self.dtype == "float64" else 4

    def _max_params(self, in_dim: int, out_dim: int) -> int:
        """Parameters of the largest network this run may grow (max_blocks blocks)."""
        m = self.model
        per_block = {"mlp": 1, "cnn": m.kernel**2, "vit": 4 + 2 * m.mlp_ratio}[m.kind]
        blocks = max(m.initial_blocks, self.growth.max_blocks) + 1
        return blocks * per_block * m.width**2 + m.width * (in_dim + out_dim)

    def search_space_bounds(self) -> tuple[tuple[int, int], tuple[float, float]]:
        """The search's depth and learning-rate ranges with their defaults resolved (see
        SearchConfig)."""
        s, m = self.search, self.model
        depth_min = m.initial_blocks if s.depth_min is None else s.depth_min
        depth_max = self.growth.max_blocks if s.depth_max is None else s.depth_max
        if s.depth_min is None and s.depth_max is None:  # the defaults: at least one depth
            depth_max = max(depth_min, depth_max)
        lr = (s.lr_min or self.optim.lr / 10, s.lr_max or min(10.0, self.optim.lr * 10))
        return (depth_min, depth_max), lr

    def _check_search_space(self) -> None:
        """Ranges that are empty once the defaults fill them are refused, never narrowed."""
        (d0, d1), (lr0, lr1) = self.search_space_bounds()
        given = {k: getattr(self.search, k) for k in ("depth_min", "depth_max", "lr_min", "lr_max")}
        said = {k: "" if v is not None else " (its default)" for k, v in given.items()}
        check(
            d0 <= d1,
            "search.depth_min",
            f"{d0}{said['depth_min']} is above search.depth_max {d1}{said['depth_max']}",
        )
        check(
            lr0 <= lr1,
            "search.lr_min",
            f"{lr0:g}{said['lr_min']} is above search.lr_max {lr1:g}{said['lr_max']}",
        )

    def validate(self) -> None:
        from sciml_grow.growth import STRATEGIES

        check(
            self.strategy in STRATEGIES,
            "strategy",
            f"{self.strategy!r} is not one of {', '.join(STRATEGIES)}",
        )
        check(self.epochs > 0, "epochs", "must be positive")
        check(
            self.strategy != "finetune" or bool(self.finetune.pretrained),
            "finetune.pretrained",
            "strategy finetune needs the pretrained run directory",
        )
        check(
            self.model.kind == "mlp" or not self.strategy.startswith("layerwise"),
            "strategy",
            f"{self.strategy} grows MLPs only (model.kind = mlp)",
        )
        d1 = ACTIVATIONS[self.model.activation].d1_at_zero
        check(
            self.strategy != "sensli" or (math.isfinite(d1) and d1 != 0),
            "model.activation",
            f"strategy sensli needs sigma'(0) != 0 (a zero block must move the loss at first "
            f"order); {self.model.activation} has sigma'(0) = {d1:g} (use tanh or elu)",
        )
        d2 = ACTIVATIONS[self.model.insert_activation].d2_at_zero
        check(
            self.strategy not in ("td", "random-1") or (math.isfinite(d2) and d2 != 0),
            "model.insert_activation",
            f"strategy {self.strategy} needs sigma''(0) != 0 (the topological derivative is the "
            f"second-order term of a zero block, and a block needs sigma(0) = sigma'(0) = 0); "
            f"{self.model.insert_activation} has sigma''(0) = {d2:g} (use silu2-tanh)",
        )
        if self.strategy == "search":
            self._check_search_space()
        check(0 <= self.seed <= MAX_SEED, "seed", f"must lie in 0..{MAX_SEED}")
        check(self.early_stopping >= 0, "early_stopping", "must be >= 0 (0 = off)")
        check(
            self.early_stopping_delta is None or self.early_stopping_delta >= 0,
            "early_stopping_delta",
            "must be >= 0",
        )
        check(self.checkpoint_every > 0, "checkpoint_every", "must be positive")
        check(
            self.budgets is None
            or (
                bool(self.budgets)
                and all(b > 0 for b in self.budgets)
                and list(self.budgets) == sorted(set(self.budgets))
            ),
            "budgets",
            "must be distinct positive FLOP counts in increasing order",
        )
        check(self.max_flops is None or self.max_flops > 0, "max_flops", "must be positive")
        check(
            self.baseline_blocks is None or self.baseline_blocks >= 0,
            "baseline_blocks",
            "must be >= 0",
        )
