"""Modality-routed LoRA (spec §4.5): two low-rank branches per projection, chosen per token by modality.

For a projection ``W`` (q/k/v/o of every attention layer by default) and a token x routed to branch b::

    y = W x + (α / r) · B_b A_b dropout(x)

Branch 0 serves text and RGB tokens, branch 1 motion tokens (configurable). Routing is deterministic — the
modality of every token is known when the sequence is built — so there is no learned router. The base weights
stay frozen; A is Kaiming-uniform initialised and B is zero, so a freshly wrapped model computes exactly what
the base model computes.

The route is set on a shared :class:`LoRARouter` before a forward (``with router.routing(branch_ids): ...``),
because the Hugging Face model does not pass per-token side information down to its linear layers. Without a
route every token uses the default branch (text), which is what a text-only call expects.

``peft`` is deliberately not used: its LoRA has no per-token routing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import ConfigError
from .modalities import MODALITIES

__all__ = [
    "LoRAConfig",
    "LoRARouter",
    "RoutedLoRALinear",
    "apply_routed_lora",
    "unwrap_routed_lora",
    "parameter_report",
]


@dataclass
class LoRAConfig:
    """Routed LoRA hyper-parameters.

    Attributes:
        enabled: False = no LoRA at all (the "LLM frozen" ablation of Table 13).
        rank: r (paper: 32, single source).
        alpha: scale numerator; the update is scaled by alpha / rank (paper silent; default alpha = rank).
        dropout: dropout on the LoRA input (paper silent; 0.05).
        target_modules: names of the ``nn.Linear`` children to wrap (paper: q/k/v/o; add MLP names to extend).
        branches: branch names, in order.
        modality_branch: which branch serves each modality (text and RGB share one, motion has its own).
            Mapping every modality to one branch gives the "shared LoRA" ablation.
        init: initialisation of A ("kaiming": Kaiming-uniform as in the LoRA paper; "gaussian": N(0, 1/r)).
    """

    enabled: bool = True
    rank: int = 32
    alpha: float = 32.0
    dropout: float = 0.05
    target_modules: list[str] = field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    branches: list[str] = field(default_factory=lambda: ["text", "motion"])
    modality_branch: dict[str, str] = field(
        default_factory=lambda: {"text": "text", "motion": "motion", "image": "text"}
    )
    init: Literal["kaiming", "gaussian"] = "kaiming"

    def __post_init__(self) -> None:
        if self.rank < 1:
            raise ConfigError(f"lora.rank must be >= 1, got {self.rank}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")
        if not self.branches or len(set(self.branches)) != len(self.branches):
            raise ConfigError(f"lora.branches must be non-empty and unique, got {self.branches}")
        missing = [m for m in MODALITIES if m not in self.modality_branch]
        if missing:
            raise ConfigError(f"lora.modality_branch has no branch for modalities {missing}")
        bad = {m: b for m, b in self.modality_branch.items() if b not in self.branches}
        if bad:
            raise ConfigError(f"lora.modality_branch names unknown branches {bad}; branches are {self.branches}")

    def branch_of_modality(self) -> list[int]:
        """Branch index for each modality id (index = modality id of :data:`MODALITIES`)."""
        return [self.branches.index(self.modality_branch[m]) for m in MODALITIES]


class LoRARouter:
    """Per-token branch selection shared by every :class:`RoutedLoRALinear` of one model."""

    def __init__(self, num_branches: int, default_branch: int = 0):
        self.num_branches = num_branches
        self.default_branch = default_branch
        self._route: torch.Tensor | None = None
        self._onehot: torch.Tensor | None = None
        self._uniform: int | None = None

    @property
    def route(self) -> torch.Tensor | None:
        """(B, L) long branch index per token of the current forward, or None (default branch)."""
        return self._route

    @contextlib.contextmanager
    def routing(self, branch_ids: torch.Tensor | None) -> Iterator[None]:
        """Use ``branch_ids`` (B, L) for the forwards inside the block (nesting restores the outer route)."""
        prev = (self._route, self._onehot, self._uniform)
        self._route = branch_ids
        self._onehot = None
        self._uniform = None
        if branch_ids is not None and branch_ids.numel() > 0:
            first = branch_ids.reshape(-1)[0]
            if bool((branch_ids == first).all()):
                self._uniform = int(first)
        try:
            yield
        finally:
            self._route, self._onehot, self._uniform = prev

    @property
    def uniform_branch(self) -> int | None:
        """The branch of every token of the current route when they all share one (else None)."""
        return self._uniform

    def onehot(self, x: torch.Tensor) -> torch.Tensor | None:
        """(B, L, n_branches, 1) float selection for input ``x`` (B, L, D); None = all default branch."""
        if self._route is None:
            return None
        if tuple(self._route.shape) != tuple(x.shape[:-1]):
            raise RuntimeError(
                f"routed LoRA: the route has shape {tuple(self._route.shape)} but the layer input is "
                f"{tuple(x.shape[:-1])}; set the route for exactly the tokens of this forward"
            )
        if self._onehot is None or self._onehot.dtype != x.dtype or self._onehot.device != x.device:
            self._onehot = F.one_hot(self._route.to(x.device).long(), self.num_branches).to(x.dtype).unsqueeze(-1)
        return self._onehot


class RoutedLoRALinear(nn.Module):
    """``base`` (frozen ``nn.Linear``) plus one low-rank branch per route; see the module docstring."""

    def __init__(
        self,
        base: nn.Linear,
        router: LoRARouter,
        rank: int,
        alpha: float,
        dropout: float = 0.0,
        init: str = "kaiming",
    ):
        super().__init__()
        self.base = base
        self.router = router
        self.rank = rank
        self.num_branches = router.num_branches
        self.scaling = alpha / rank
        n, r = self.num_branches, rank
        w = base.weight
        self.lora_A = nn.Parameter(torch.empty(n, r, base.in_features, dtype=w.dtype, device=w.device))
        self.lora_B = nn.Parameter(torch.zeros(n, base.out_features, r, dtype=w.dtype, device=w.device))
        for b in range(n):
            if init == "kaiming":
                nn.init.kaiming_uniform_(self.lora_A.data[b], a=math.sqrt(5))
            else:
                nn.init.normal_(self.lora_A.data[b], std=1.0 / r)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()

    @property
    def in_features(self) -> int:
        return self.base.in_features

    @property
    def out_features(self) -> int:
        return self.base.out_features

    @property
    def weight(self) -> torch.Tensor:
        """The base weight (some HF code reads ``proj.weight`` for dtype/device)."""
        return self.base.weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, in) -> (B, L, out)
        y = self.base(x)
        n, r = self.num_branches, self.rank
        sel = self.router.onehot(x)  # (B, L, n, 1) or None; also checks the route's shape
        h = self.dropout(x)
        single = self.router.default_branch if sel is None else self.router.uniform_branch
        # one branch for every token: compute only that branch (in training only without a route, so that every
        # branch of a routed forward takes part in the graph, as DistributedDataParallel expects)
        if single is not None and (sel is None or not torch.is_grad_enabled()):
            low = h @ self.lora_A[single].t()  # (B, L, r)
            return y + (low @ self.lora_B[single].t()) * self.scaling
        low = h @ self.lora_A.reshape(n * r, -1).t()  # (B, L, n*r)
        low = (low.unflatten(-1, (n, r)) * sel).flatten(-2)  # keep only each token's branch
        b_all = self.lora_B.permute(0, 2, 1).reshape(n * r, -1)  # (n*r, out)
        return y + (low @ b_all) * self.scaling

    def merged_weight(self, branch: int) -> torch.Tensor:
        """W + (α/r)·B_b A_b: the plain weight equivalent to routing every token to ``branch``."""
        return self.base.weight + self.scaling * (self.lora_B[branch] @ self.lora_A[branch])

    def extra_repr(self) -> str:
        return f"branches={self.num_branches}, rank={self.rank}, scaling={self.scaling:g}"


def apply_routed_lora(model: nn.Module, config: LoRAConfig, router: LoRARouter) -> list[str]:
    """Replace every ``nn.Linear`` whose attribute name is in ``config.target_modules``; return their names."""
    targets = set(config.target_modules)
    found = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and name.rsplit(".", 1)[-1] in targets
    ]
    if not found:
        raise ConfigError(f"lora.target_modules {sorted(targets)} match no nn.Linear in the backbone")
    for name, module in found:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, RoutedLoRALinear(module, router, config.rank, config.alpha, config.dropout, config.init))
    return [name for name, _ in found]


@torch.no_grad()
def unwrap_routed_lora(model: nn.Module, branch: int = 0) -> int:
    """Merge ``branch`` into the base weights and put plain ``nn.Linear`` layers back (export). Returns count."""
    wrapped = [(n, m) for n, m in model.named_modules() if isinstance(m, RoutedLoRALinear)]
    for name, module in wrapped:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = module.base
        merged = nn.Linear(base.in_features, base.out_features, bias=base.bias is not None,
                           device=base.weight.device, dtype=base.weight.dtype)
        merged.weight.copy_(module.merged_weight(branch))
        if base.bias is not None:
            merged.bias.copy_(base.bias)
        setattr(parent, child, merged)
    return len(wrapped)


def parameter_report(model: nn.Module) -> dict[str, float]:
    """Parameter counts: total, trainable, LoRA, and trainable / total (shared tensors counted once)."""
    seen: set[int] = set()
    total = trainable = lora = 0
    for name, p in model.named_parameters(remove_duplicate=True):
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
        if name.endswith("lora_A") or name.endswith("lora_B"):
            lora += p.numel()
    return {
        "total": total,
        "trainable": trainable,
        "lora": lora,
        "trainable_fraction": trainable / max(total, 1),
        "lora_fraction": lora / max(total - lora, 1),
    }
