"""Vision transformer that can grow in depth.

    x_1     = patches(x_0) W_embed + b + pos          patch embedding, one token per P x P patch
    x_{t+1} = transformer block (pre-norm):  x + Attn(LN x),  then + MLP(LN x)
    y_hat   = field head: each token -> its P x P patch of every output channel
            | class head: Linear(LN(mean over tokens))

Growth inserts a *token-wise* block (ours; docs/method.md, section 2):

    z = x + Attn(LN x) + sigma(W x_tau + b)   for every token tau

The token-wise path is what the topological derivative chooses and initializes: rows are one
per sample and token (u = the token, p = its costate), blocks of size D + 1. The attention path
is there so the new block can learn to mix tokens later; at insertion its output projection is
zero (queries, keys and values keep PyTorch's default initialization, so it is not stuck at a
saddle), so the network's function is unchanged and the attention contributes nothing to the
first- or second-order change the eigenproblem predicts. A non-residual grown block (Forward
Thinking) drops the skip connection, z = Attn(LN x) + sigma(W x + b).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from sciml_grow.errors import InputError
from sciml_grow.nets.activations import get_activation
from sciml_grow.nets.base import BlockSpec, GrowableNet, zero_

TRANSFORMER = "transformer"  # BlockSpec.form of the initial (standard) blocks


class PatchEmbedding(nn.Module):
    """Image (N, C, H, W) -> tokens (N, T, D): a linear map of each P x P patch plus a learned
    position embedding."""

    def __init__(self, in_shape: list[int], patch: int, dim: int):
        super().__init__()
        c, h, w = in_shape
        self.in_shape, self.patch = in_shape, patch
        self.proj = nn.Linear(c * patch * patch, dim)
        self.position = nn.Parameter(0.02 * torch.randn(1, (h // patch) * (w // patch), dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c, h, w = self.in_shape
        p = self.patch
        x = x.reshape(len(x), c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5)
        return self.proj(x.reshape(len(x), (h // p) * (w // p), c * p * p)) + self.position


class TransformerBlock(nn.Module):
    """Pre-norm transformer block: x + Attn(LN x), then + MLP(LN x) (GELU, ratio r)."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, spec: BlockSpec):
        super().__init__()
        self.spec = spec
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(
            nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim)
        )
        self.requires_grad_(spec.trainable)

    @property
    def layer(self) -> nn.Linear:
        return self.mlp[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, h, h, need_weights=False)[0]
        return x + self.mlp(self.norm2(x))


class GrownBlock(nn.Module):
    """z = x + Attn(LN x) + sigma(W x + b), token-wise W (see the module docstring)."""

    def __init__(self, dim: int, heads: int, spec: BlockSpec):
        super().__init__()
        self.spec = spec
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.tokenwise = nn.Linear(dim, dim)
        self.act = get_activation(spec.activation).fn
        self.requires_grad_(spec.trainable)

    @property
    def layer(self) -> nn.Linear:
        return self.tokenwise

    def to_identity(self) -> None:
        """Zero output projection and token-wise layer: the block adds nothing (residual)."""
        zero_(self.attn.out_proj)
        zero_(self.tokenwise)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm(x)
        z = self.attn(h, h, h, need_weights=False)[0] + self.act(self.tokenwise(x))
        return x + z if self.spec.residual else z


class GrowableViT(GrowableNet):
    """Patch embedding, transformer blocks, token-wise grown blocks, field or class head."""

    kind = "vit"

    def __init__(
        self,
        in_shape: list[int],
        out_dim: int,
        width: int,
        blocks: list[BlockSpec] | None = None,
        patch: int = 4,
        heads: int = 4,
        mlp_ratio: int = 2,
        head: Literal["field", "classes"] = "field",
        lift_trainable: bool = True,
        head_trainable: bool = True,
    ):
        super().__init__()
        c, h, w = in_shape
        if h % patch or w % patch:
            raise InputError(f"patch {patch} does not divide the image size {h} x {w}")
        if width % heads:
            raise InputError(f"width {width} is not a multiple of heads {heads}")
        if head == "field" and out_dim % (h * w):
            raise InputError(f"a field head maps to whole {h} x {w} channels, not {out_dim} values")
        self.in_shape, self.out_dim, self.width = list(in_shape), out_dim, width
        self.patch, self.heads, self.mlp_ratio, self.head_kind = patch, heads, mlp_ratio, head
        self.lift = PatchEmbedding(self.in_shape, patch, width)
        self.blocks = nn.ModuleList(self.make_block(b) for b in (blocks or []))
        self.head = self.make_head()
        self.set_trainable(lift_trainable, head_trainable)

    @property
    def in_dim(self) -> int:
        c, h, w = self.in_shape
        return c * h * w

    def make_block(self, spec: BlockSpec) -> nn.Module:
        if spec.form == TRANSFORMER:
            return TransformerBlock(self.width, self.heads, self.mlp_ratio, spec)
        return GrownBlock(self.width, self.heads, spec)

    def make_head(self) -> nn.Module:
        if self.head_kind == "field":
            channels = self.out_dim // (self.in_shape[1] * self.in_shape[2])
            return nn.Linear(self.width, channels * self.patch**2)
        return nn.Sequential(nn.LayerNorm(self.width), nn.Linear(self.width, self.out_dim))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.lift(x)

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        if self.head_kind == "classes":
            return self.head(h.mean(dim=1))
        _, height, width = self.in_shape
        p, n = self.patch, len(h)
        out = self.head(h).reshape(n, height // p, width // p, -1, p, p)
        return out.permute(0, 3, 1, 4, 2, 5).reshape(n, -1)

    def arguments(self) -> dict[str, Any]:
        return {
            "in_shape": self.in_shape,
            "out_dim": self.out_dim,
            "width": self.width,
            "patch": self.patch,
            "heads": self.heads,
            "mlp_ratio": self.mlp_ratio,
            "head": self.head_kind,
        }

    def direction_shape(self) -> torch.Size:
        return torch.Size((self.width, self.width + 1))

    def td_rows(
        self, state: torch.Tensor, costate: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per sample and token."""
        return state.reshape(-1, state.shape[-1]), costate.reshape(-1, costate.shape[-1])
