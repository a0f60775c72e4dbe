"""Sequential residual learning's model: the sum of a base network and small correction nets."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class SumNet(nn.Module):
    """prediction = member_0(x) + member_1(x) + ...; each later member fits what is left."""

    kind = "sum"

    def __init__(self, members: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(members)

    @property
    def depth(self) -> int:
        """Depth of the base network (corrections are reported as stages)."""
        return self.members[0].depth

    @property
    def stages(self) -> int:
        return len(self.members) - 1

    @property
    def in_dim(self) -> int:
        return self.members[0].in_dim

    def spec(self) -> dict[str, Any]:
        return {"kind": self.kind, "members": [m.spec() for m in self.members]}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> SumNet:
        from sciml_grow.nets import build

        return cls([build(s) for s in spec["members"]])

    def forward(self, x: torch.Tensor, states: list[torch.Tensor] | None = None) -> torch.Tensor:
        return sum(m(x) for m in self.members)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())
