"""Residual CNN of fixed channel count that can grow in depth.

    x_1     = act_lift(K_lift * x_0 + b)               lifting convolution, C_in -> C channels
    x_{t+1} = x_t + sigma_t(K_t * x_t + b_t)           k x k convolution, same padding
    y_hat   = K_out * x_T + b_out  (field head: 1 x 1 convolution to the output channels)
            | W_out mean_pixels(x_T) + b_out  (class head: global average pool, linear)

Inputs and outputs travel flat, (N, C_in H W) and (N, out_dim), as the trainer and the
standardizers keep them; the network reshapes. For the topological derivative a block inserted
after x_l acts on every pixel's im2col patch (C k k values, ordered as the convolution weight
(C_out, C_in, k, k) flattens), so one row per sample and pixel (docs/method.md, section 2).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import torch
from torch import nn
import torch.nn.functional as F

from sciml_grow.errors import InputError
from sciml_grow.nets.activations import get_activation
from sciml_grow.nets.base import BlockSpec, GrowableNet


class ConvBlock(nn.Module):
    """x -> x + sigma(K * x + b) (residual) or sigma(K * x + b)."""

    def __init__(self, channels: int, kernel: int, spec: BlockSpec):
        super().__init__()
        self.spec = spec
        self.conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2)
        self.act = get_activation(spec.activation).fn
        self.conv.requires_grad_(spec.trainable)

    @property
    def layer(self) -> nn.Conv2d:
        return self.conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.act(self.conv(x))
        return x + z if self.spec.residual else z


class GrowableCNN(GrowableNet):
    """Lifting convolution, residual convolution blocks that can grow, field or class head."""

    kind = "cnn"

    def __init__(
        self,
        in_shape: list[int],
        out_dim: int,
        width: int,
        blocks: list[BlockSpec] | None = None,
        kernel: int = 3,
        head: Literal["field", "classes"] = "field",
        lift_activation: str = "tanh",
        lift_trainable: bool = True,
        head_trainable: bool = True,
    ):
        super().__init__()
        if len(in_shape) != 3:
            raise InputError(f"a CNN needs image inputs (channels, height, width), got {in_shape}")
        if kernel % 2 != 1:
            raise InputError(f"kernel must be odd for same padding, got {kernel}")
        self.in_shape, self.out_dim, self.width = list(in_shape), out_dim, width
        self.kernel, self.head_kind, self.lift_activation = kernel, head, lift_activation
        pixels = in_shape[1] * in_shape[2]
        if head == "field" and out_dim % pixels:
            raise InputError(
                f"a field head maps to whole channels of {in_shape[1]} x {in_shape[2]} pixels; "
                f"{out_dim} outputs are not a multiple of {pixels}"
            )
        self.lift = nn.Conv2d(in_shape[0], width, kernel, padding=kernel // 2)
        self.lift_act = get_activation(lift_activation).fn
        self.blocks = nn.ModuleList(self.make_block(b) for b in (blocks or []))
        self.head = self.make_head()
        self.set_trainable(lift_trainable, head_trainable)

    @property
    def in_dim(self) -> int:
        return math.prod(self.in_shape)

    def make_block(self, spec: BlockSpec) -> ConvBlock:
        return ConvBlock(self.width, self.kernel, spec)

    def make_head(self) -> nn.Module:
        if self.head_kind == "field":
            pixels = self.in_shape[1] * self.in_shape[2]
            return nn.Conv2d(self.width, self.out_dim // pixels, 1)
        return nn.Linear(self.width, self.out_dim)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.lift_act(self.lift(x.reshape(len(x), *self.in_shape)))

    def readout(self, h: torch.Tensor) -> torch.Tensor:
        if self.head_kind == "field":
            return self.head(h).flatten(1)
        return self.head(h.mean(dim=(2, 3)))

    def arguments(self) -> dict[str, Any]:
        return {
            "in_shape": self.in_shape,
            "out_dim": self.out_dim,
            "width": self.width,
            "kernel": self.kernel,
            "head": self.head_kind,
            "lift_activation": self.lift_activation,
        }

    def direction_shape(self) -> torch.Size:
        return torch.Size((self.width, self.width * self.kernel**2 + 1))

    def td_rows(
        self, state: torch.Tensor, costate: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One row per sample and pixel: the im2col patch of ``state`` and the costates of
        the output channels at that pixel."""
        k = self.kernel
        patches = F.unfold(state, k, padding=k // 2)  # (N, C k k, H W)
        u = patches.transpose(1, 2).reshape(-1, patches.shape[1])
        p = costate.permute(0, 2, 3, 1).reshape(-1, costate.shape[1])
        return u, p

    def td_row_count(self, state: torch.Tensor) -> int:
        return state.shape[0] * state.shape[2] * state.shape[3]

    def td_sample_rows(
        self, state: torch.Tensor, costate: torch.Tensor, keep: float, rng: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The rows of :meth:`td_rows` kept with probability ``keep`` (the same draw), but
        only the kept patches are gathered: no im2col of the whole state."""
        n, c, h, w = state.shape
        k = self.kernel
        mask = torch.rand(n * h * w, generator=rng) < keep
        idx = torch.nonzero(mask).squeeze(1).to(state.device)
        sample, pixel = idx // (h * w), idx % (h * w)
        offsets = torch.arange(k, device=state.device)
        rows = (pixel // w)[:, None] + offsets  # (m, k) rows of the padded state
        cols = (pixel % w)[:, None] + offsets
        padded = F.pad(state, (k // 2,) * 4)
        channels = torch.arange(c, device=state.device)
        patches = padded[
            sample[:, None, None, None],
            channels[None, :, None, None],
            rows[:, None, :, None],
            cols[:, None, None, :],
        ]  # (m, C, k, k), flattened as the convolution weight (C_out, C_in, k, k) is
        p = costate.permute(0, 2, 3, 1).reshape(-1, c)[idx] / keep
        return patches.reshape(len(idx), c * k * k), p
