"""What every growable network shares: lifting, a list of blocks that can grow, a head.

    x_1     = embed(x_0)                 lifting (dense, convolution, patch embedding)
    x_{t+1} = block_t(x_t)               residual blocks; new ones are inserted between them
    y_hat   = head(x_T)

A subclass says how to embed, how to build a block from its :class:`BlockSpec`, how to read
out and, for the topological derivative, which rows (input features u, output costates p) a
block inserted after a hidden state acts on (:meth:`GrowableNet.td_rows`). The architecture is
a plain dict (``spec``) saved with every checkpoint, so a grown network is rebuilt exactly and a
baseline can be given the final architecture of a grown run. Hidden state l (0 = after the
lifting, t = after block t) is where a block inserted at position l reads its input.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from sciml_grow.errors import InputError


@dataclass
class BlockSpec:
    """One hidden block: its activation, whether it adds a skip connection, whether it trains,
    which strategy put it there (for reports), and its form where a network has several
    ("" = the network's growth block; a ViT's standard blocks are "transformer")."""

    activation: str = "tanh"
    residual: bool = True
    trainable: bool = True
    origin: str = "initial"
    form: str = ""


class GrowableNet(nn.Module):
    """Base class; subclasses set ``lift``, ``lift_act``, ``blocks`` and ``head`` and
    implement the hooks below."""

    kind: ClassVar[str]
    lift: nn.Module
    head: nn.Module
    blocks: nn.ModuleList

    # --- hooks -------------------------------------------------------------------------------
    def make_block(self, spec: BlockSpec) -> nn.Module:
        """A block with PyTorch's default initialization; its ``layer`` is what growth
        initializes and sparsity prunes."""
        raise NotImplementedError

    def make_head(self) -> nn.Module:
        """A freshly initialized output layer (Forward Thinking trains a new one per layer)."""
        raise NotImplementedError

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        return self.head(h)

    def arguments(self) -> dict[str, Any]:
        """Constructor arguments other than ``blocks`` and the trainable flags."""
        raise NotImplementedError

    def td_rows(
        self, state: torch.Tensor, costate: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Rows (u (R, n_in), p (R, n_out)) the weights of a block reading ``state`` act on."""
        return state, costate

    def td_row_count(self, state: torch.Tensor) -> int:
        """Number of rows ``td_rows`` gives for ``state``."""
        return state[..., 0].numel()

    def td_sample_rows(
        self, state: torch.Tensor, costate: torch.Tensor, keep: float, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each row kept with probability ``keep`` (costates divided by ``keep``, so the sum
        over the kept rows estimates the full sum without bias)."""
        u, p = self.td_rows(state, costate)
        mask = torch.rand(len(u), generator=rng).to(u.device) < keep
        return u[mask], p[mask] / keep

    # --- architecture ------------------------------------------------------------------------
    @property
    def depth(self) -> int:
        """Number of hidden blocks."""
        return len(self.blocks)

    def direction_shape(self) -> torch.Size:
        """Shape (n_out, n_in + 1) of an inserted block's [weights | bias]."""
        raise NotImplementedError

    def spec(self) -> dict[str, Any]:
        """Everything needed to rebuild this architecture (weights not included)."""
        return {
            "kind": self.kind,
            **self.arguments(),
            "lift_trainable": next(self.lift.parameters()).requires_grad,
            "head_trainable": next(self.head.parameters()).requires_grad,
            "blocks": [asdict(b.spec) for b in self.blocks],
        }

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> GrowableNet:
        spec = copy.deepcopy(spec)
        if spec.pop("kind", cls.kind) != cls.kind:
            raise InputError(f"architecture spec is not a {cls.kind}")
        spec["blocks"] = [BlockSpec(**b) for b in spec["blocks"]]
        return cls(**spec)

    def set_trainable(self, lift: bool, head: bool) -> None:
        """Trainable flags of the lifting and output layers (blocks carry their own)."""
        self.lift.requires_grad_(lift)
        self.head.requires_grad_(head)

    def insert_block(self, position: int, spec: BlockSpec) -> nn.Module:
        """Insert a new block reading hidden state ``position`` (0..depth); returns it.

        Its parameters start at zero (with sigma(0) = 0 a residual block is then the identity),
        or, for a block with a ``to_identity`` method, those that make it the identity; callers
        set them. Existing parameters keep their identity, so optimizer state survives.
        """
        if not 0 <= position <= self.depth:
            raise InputError(f"insert position {position} outside 0..{self.depth}")
        ref = next(self.head.parameters())
        block = self.make_block(spec)
        if hasattr(block, "to_identity"):
            block.to_identity()
        else:
            zero_(block)
        block = block.to(device=ref.device, dtype=ref.dtype)
        self.blocks.insert(position, block)
        return block

    def set_head(self, head: nn.Module) -> None:
        """Replace the output layer."""
        self.head = head

    def freeze_trunk(self) -> None:
        """Freeze the lifting layer and every existing block."""
        self.lift.requires_grad_(False)
        for b in self.blocks:
            b.spec.trainable = False
            b.requires_grad_(False)

    def freeze(self) -> None:
        """Freeze everything, output layer included."""
        self.freeze_trunk()
        self.head.requires_grad_(False)

    def layers(self) -> dict[str, nn.Module]:
        """Every weight layer by a readable name: lift, block1.., head."""
        out = {"lift": self.lift}
        out.update({f"block{i + 1}": b.layer for i, b in enumerate(self.blocks)})
        out["head"] = self.head
        return out

    # --- evaluation --------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, states: list[torch.Tensor] | None = None) -> torch.Tensor:
        """Output; if ``states`` is a list, the hidden states x_1..x_T are appended to it."""
        h = self.embed(x)
        if states is not None:
            states.append(h)
        for block in self.blocks:
            h = block(h)
            if states is not None:
                states.append(h)
        return self.readout(h)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())


def zero_(module: nn.Module) -> nn.Module:
    """Set every parameter of ``module`` to zero; returns it."""
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module
