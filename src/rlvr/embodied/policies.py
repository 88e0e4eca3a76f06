"""Visual navigation policies: a perception module phi(o_t, g), a GRU with the previous action, and
actor / critic heads (arXiv 2507.01667, section 3).

The four perception modules differ only in where the observation o and the goal g meet:

- ``late_fusion``: two separate ResNet-style encoders, each reduced to a vector, concatenated.
- ``channelcat``: o and g stacked as 6 channels into one ResNet-style encoder (fusion at the pixels).
- ``s2d_channelcat``: SpaceToDepth (pixel_unshuffle by 4) of the 6-channel stack, then the encoder:
  fusion at the pixels with a cheap, lossless downsampling stem.
- ``cross_attention``: an 8x8 grid of patch tokens of o attends to that of g (fusion between patches).

Each maps uint8 pictures to a (B, feat_dim) feature. Add one with ``@PERCEPTION.register("name")``
(a class taking ``(width, feat_dim, size)``) or name it as ``module:attr`` in a recipe.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rlvr.registry import Registry

STOP_BIAS = -2.5
"""Initial logit bias of STOP (the last action), the others 0."""
PERCEPTION: Registry[type[nn.Module]] = Registry("perception module")


def _norm(c: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, c), c)


class ResBlock(nn.Module):
    """Basic residual block (two 3x3 convs, GroupNorm), strided and widened by a 1x1 shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.n1 = _norm(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.n2 = _norm(c_out)
        self.skip = (
            nn.Identity() if stride == 1 and c_in == c_out else nn.Conv2d(c_in, c_out, 1, stride, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        y = F.relu(self.n1(self.conv1(x)))
        return F.relu(self.n2(self.conv2(y)) + self.skip(x))


class ConvEncoder(nn.Module):
    """ResNet-style: stem (stride 2), residual stages down to 4x4, a 1x1 compression, flatten, linear.

    The spatial map is flattened, not averaged, so where things are in the picture survives.
    """

    def __init__(self, c_in: int, width: int, feat_dim: int, size: int, stem_stride: int = 2) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(c_in, width, 3, stem_stride, 1, bias=False),
            _norm(width),
            nn.ReLU(),
        ]
        c, s = width, size // stem_stride
        while s > 4:
            layers.append(ResBlock(c, min(c * 2, width * 4), 2))
            c, s = min(c * 2, width * 4), s // 2
        layers += [nn.Conv2d(c, 32, 1), nn.ReLU(), nn.Flatten(), nn.Linear(32 * s * s, feat_dim), nn.ReLU()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:  # (B, C, H, W) -> (B, feat_dim)
        return self.net(x)


@PERCEPTION.register("late_fusion")
class LateFusion(nn.Module):
    """Separate encoders for o and g, each reduced to a vector, fused by concatenation + linear."""

    def __init__(self, width: int, feat_dim: int, size: int) -> None:
        super().__init__()
        self.obs_enc = ConvEncoder(3, width, feat_dim, size)
        self.goal_enc = ConvEncoder(3, width, feat_dim, size)
        self.fuse = nn.Sequential(nn.Linear(2 * feat_dim, feat_dim), nn.ReLU())

    def forward(self, obs: Tensor, goal: Tensor) -> Tensor:  # (B, 3, H, W) x2 -> (B, feat_dim)
        return self.fuse(torch.cat([self.obs_enc(obs), self.goal_enc(goal)], dim=-1))


@PERCEPTION.register("channelcat")
class ChannelCat(nn.Module):
    """o and g stacked as 6 channels into one ResNet-style encoder."""

    def __init__(self, width: int, feat_dim: int, size: int) -> None:
        super().__init__()
        self.enc = ConvEncoder(6, width, feat_dim, size)

    def forward(self, obs: Tensor, goal: Tensor) -> Tensor:
        return self.enc(torch.cat([obs, goal], dim=1))  # (B, 6, H, W) -> (B, feat_dim)


@PERCEPTION.register("s2d_channelcat")
class SpaceToDepthChannelCat(nn.Module):
    """SpaceToDepth by 4 of the 6-channel stack (96 channels at H/4), then the encoder with a stride-1 stem."""

    def __init__(self, width: int, feat_dim: int, size: int) -> None:
        super().__init__()
        self.enc = ConvEncoder(6 * 16, 2 * width, feat_dim, size // 4, stem_stride=1)

    def forward(self, obs: Tensor, goal: Tensor) -> Tensor:
        x = F.pixel_unshuffle(torch.cat([obs, goal], dim=1), 4)  # (B, 96, H/4, W/4)
        return self.enc(x)


class CrossBlock(nn.Module):
    """Pre-norm cross-attention (queries from o's tokens, keys / values from g's) and an MLP."""

    def __init__(self, dim: int, heads: int = 4) -> None:
        super().__init__()
        self.nq, self.nkv, self.n2 = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: Tensor, g: Tensor) -> Tensor:  # (B, N, D), (B, N, D) -> (B, N, D)
        kv = self.nkv(g)
        x = x + self.attn(self.nq(x), kv, kv, need_weights=False)[0]
        return x + self.mlp(self.n2(x))


@PERCEPTION.register("cross_attention")
class CrossAttention(nn.Module):
    """An 8x8 grid of patch tokens of o and of g (patches of size / 8 pixels); two cross-attention
    blocks from o to g; tokens flattened."""

    def __init__(self, width: int, feat_dim: int, size: int, grid: int = 8) -> None:
        super().__init__()
        patch = max(1, size // grid)
        dim, n = 2 * width, (size // patch) ** 2
        self.obs_embed = nn.Conv2d(3, dim, patch, patch)
        self.goal_embed = nn.Conv2d(3, dim, patch, patch)
        self.pos = nn.Parameter(torch.randn(1, n, dim) * 0.02)
        self.blocks = nn.ModuleList([CrossBlock(dim), CrossBlock(dim)])
        self.out = nn.Sequential(
            nn.LayerNorm(dim), nn.Linear(dim, 16), nn.Flatten(), nn.Linear(16 * n, feat_dim), nn.ReLU()
        )

    def forward(self, obs: Tensor, goal: Tensor) -> Tensor:
        x = self.obs_embed(obs).flatten(2).transpose(1, 2) + self.pos  # (B, N, D)
        g = self.goal_embed(goal).flatten(2).transpose(1, 2) + self.pos  # (B, N, D)
        for block in self.blocks:
            x = block(x, g)
        return self.out(x)


def to_float(pictures: Tensor) -> tuple[Tensor, Tensor]:
    """uint8 (B, 2, H, W, 3) -> observation and goal as float (B, 3, H, W) in [0, 1]."""
    x = pictures.permute(0, 1, 4, 2, 3).float().div_(255.0)  # (B, 2, 3, H, W)
    return x[:, 0], x[:, 1]


class NavPolicy(nn.Module):
    """phi(o_t, g) -> GRU([phi, embed(a_{t-1})]) -> actor logits and critic value."""

    def __init__(self, perception: nn.Module, feat_dim: int, hidden: int, num_actions: int = 4) -> None:
        super().__init__()
        self.perception = perception
        self.num_actions = num_actions
        self.prev_action = nn.Embedding(num_actions + 1, 32)  # index num_actions: no previous action
        self.gru = nn.GRU(feat_dim + 32, hidden)
        self.actor = nn.Linear(hidden, num_actions)
        self.critic = nn.Linear(hidden, 1)
        nn.init.orthogonal_(self.actor.weight, 0.01)
        with torch.no_grad():  # STOP starts unlikely (p ~ 0.04), so early episodes are not a few steps long
            self.actor.bias.zero_()
            self.actor.bias[num_actions - 1] = STOP_BIAS

    @property
    def hidden_size(self) -> int:
        return self.gru.hidden_size

    def features(self, pictures: Tensor) -> Tensor:
        """uint8 (B, 2, H, W, 3) -> perception features (B, feat_dim)."""
        return self.perception(*to_float(pictures))

    def forward(
        self, pictures: Tensor, prev_action: Tensor, h0: Tensor, mask: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """pictures uint8 (T, B, 2, H, W, 3), prev_action (T, B) long, h0 (B, hidden), no episode
        boundary inside the T steps (a caller zeroes h0 and sets prev_action=num_actions at a start).
        ``mask`` (T, B) bool: perception runs only where True (padding gets a zero feature).

        Returns logits (T, B, A), values (T, B), h_T (B, hidden).
        """
        t, b = prev_action.shape
        flat = pictures.reshape(t * b, *pictures.shape[2:])  # (T*B, 2, H, W, 3)
        if mask is None:
            feats = self.features(flat)  # (T*B, F)
        else:
            keep = mask.reshape(-1)
            valid = self.features(flat[keep])
            feats = valid.new_zeros(t * b, valid.shape[-1]).index_copy(0, keep.nonzero().squeeze(1), valid)
        x = torch.cat([feats.reshape(t, b, -1), self.prev_action(prev_action)], dim=-1)  # (T, B, F + 32)
        out, h = self.gru(x, h0.unsqueeze(0))  # (T, B, hidden), (1, B, hidden)
        return self.actor(out), self.critic(out).squeeze(-1), h.squeeze(0)


def build_policy(arch: str, width: int, feat_dim: int, hidden: int, size: int) -> NavPolicy:
    """A NavPolicy with the named perception module."""
    perception = PERCEPTION.get(arch)(width, feat_dim, size)
    return NavPolicy(perception, feat_dim, hidden)


def param_counts(policy: NavPolicy) -> dict[str, int]:
    """Parameters of the perception module and of the whole policy."""
    return {
        "perception": sum(p.numel() for p in policy.perception.parameters()),
        "total": sum(p.numel() for p in policy.parameters()),
    }
