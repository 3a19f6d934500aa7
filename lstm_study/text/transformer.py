"""A small decoder-only character Transformer (Vaswani et al. 2017), written out.

Embedding plus positions (learned, or the fixed sinusoids of the paper) -> pre-norm blocks
(``x + attention(LN x)``, then ``x + MLP(LN x)``) -> LayerNorm -> linear read-out. Attention is
causal: position ``t`` mixes the values of positions ``<= t`` only, with weights
``softmax(q k^T / sqrt(d))``. The model sees at most ``context`` characters; it carries no state
from one window to the next.

Generation reads the last characters (at most ``context``) and draws the next one. Without a
cache every draw runs the whole visible window again; with a key-value cache each draw runs
only the new character and appends its keys and values. Positions are absolute, so a full
window cannot slide by one (every key would change): both ways start a new window holding the
last ``context // 2`` characters when the window is full, so they see the same characters and
draw the same text.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from lstm_study.errors import ConfigError, ShapeError, check_int

POSITIONS = ("learned", "sinusoidal")
#: one layer's keys and values, each (batch, heads, seen, head_size)
Cache = list[tuple[Tensor, Tensor]]


def causal_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """``softmax(q k^T / sqrt(d) + mask) v`` with q (..., Tq, d), k and v (..., Tk, d).

    The queries are the last ``Tq`` of the ``Tk`` positions (``Tq < Tk`` with a cache); query
    ``i`` sees the keys up to its own position and none after.
    """
    t_q, t_k = q.size(-2), k.size(-2)
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
    later = torch.arange(t_k) > torch.arange(t_q).unsqueeze(1) + (t_k - t_q)
    scores = scores.masked_fill(later, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def sinusoids(length: int, width: int) -> Tensor:
    """The fixed positions of Vaswani et al.: sin and cos of ``pos / 10000^(2i/width)``."""
    position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    rate = torch.exp(torch.arange(0, width, 2) * (-math.log(10000.0) / width))
    table = torch.zeros(length, width)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate[: width // 2])
    return table


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; parameters named as in ``nn.MultiheadAttention``."""

    def __init__(self, d_model: int, num_heads: int) -> None:
        super().__init__()
        if d_model % num_heads:
            raise ConfigError(
                f"d_model ({d_model}) must be a multiple of num_heads ({num_heads})"
            )
        self.num_heads = num_heads
        self.in_proj = nn.Linear(d_model, 3 * d_model)  # q, k, v in this order
        self.out_proj = nn.Linear(d_model, d_model)

    def forward(
        self, x: Tensor, past: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """Output (batch, T, d_model), and the keys and values of every position seen."""
        batch, steps, width = x.shape
        heads = (
            self.in_proj(x)
            .view(batch, steps, 3, self.num_heads, width // self.num_heads)
            .permute(2, 0, 3, 1, 4)  # (q/k/v, batch, heads, T, head size)
        )
        q, k, v = heads[0], heads[1], heads[2]
        if past is not None:
            k, v = torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2)
        out = causal_attention(q, k, v).transpose(1, 2).reshape(batch, steps, width)
        return self.out_proj(out), (k, v)


class Block(nn.Module):
    """Pre-norm: ``x + attention(LN x)``, then ``x + MLP(LN x)``; names as nn.TransformerEncoderLayer."""

    def __init__(self, d_model: int, num_heads: int, expansion: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.self_attn = CausalSelfAttention(d_model, num_heads)
        self.norm2 = nn.LayerNorm(d_model)
        self.linear1 = nn.Linear(d_model, expansion * d_model)
        self.linear2 = nn.Linear(expansion * d_model, d_model)

    def forward(
        self, x: Tensor, past: tuple[Tensor, Tensor] | None = None
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """The block's output and this layer's keys and values."""
        attended, kv = self.self_attn(self.norm1(x), past)
        x = x + attended
        return x + self.linear2(F.gelu(self.linear1(self.norm2(x)))), kv


class CharTransformer(nn.Module):
    """Embedding + positions -> pre-norm blocks -> LayerNorm -> read-out: next-character logits."""

    def __init__(
        self,
        vocab_size: int,
        d_model: int = 128,
        num_layers: int = 4,
        num_heads: int = 4,
        context: int = 64,
        positions: str = "learned",
    ) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size, minimum=2)
        check_int("num_layers", num_layers)
        check_int("context", context, minimum=2)
        if positions not in POSITIONS:
            raise ConfigError(
                f"positions must be one of {POSITIONS}, got {positions!r}"
            )
        self.config = {"vocab_size": vocab_size, "d_model": d_model, "num_layers": num_layers,
                       "num_heads": num_heads, "context": context, "positions": positions}  # fmt: skip
        self.context = context
        self.embedding = nn.Embedding(vocab_size, d_model)
        if positions == "learned":
            self.position = nn.Parameter(torch.randn(context, d_model) * 0.02)
        else:
            self.register_buffer("position", sinusoids(context, d_model))
        self.blocks = nn.ModuleList(
            Block(d_model, num_heads) for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(
        self, codes: Tensor, state: None = None, cache: Cache | None = None
    ) -> tuple[Tensor, Cache]:
        """Logits (batch, T, vocab_size) for the character after each code, and the cache.

        ``state`` is accepted for the interface the recurrent models share and must be None:
        a Transformer carries nothing between windows. ``cache`` holds the keys and values of
        the characters before ``codes`` in the same window.
        """
        if state is not None:
            raise ConfigError("a Transformer carries no state between windows")
        if codes.dim() != 2:
            raise ShapeError(f"codes must be (batch, T), got {tuple(codes.shape)}")
        start = 0 if cache is None else cache[0][0].size(2)
        stop = start + codes.size(1)
        if stop > self.context:
            raise ConfigError(
                f"{stop} positions exceed the context of {self.context} characters; "
                "cut the text into windows"
            )
        x = self.embedding(codes) + self.position[start:stop]
        new_cache = []
        for n, block in enumerate(self.blocks):
            x, kv = block(x, None if cache is None else cache[n])
            new_cache.append(kv)
        return self.head(self.norm(x)), new_cache


def cache_bytes(cache: Cache) -> int:
    """Bytes held by a key-value cache: every key and value tensor of every layer."""
    return sum(t.numel() * t.element_size() for kv in cache for t in kv)


def _draw(logits: Tensor, temperature: float, generator: torch.Generator | None) -> int:
    probs = torch.softmax(logits.double() / temperature, dim=-1)
    return int(torch.multinomial(probs, 1, generator=generator))


@torch.no_grad()
def generate(
    model: CharTransformer,
    prompt: Tensor,
    length: int,
    *,
    use_cache: bool = True,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, int]:
    """``length`` codes drawn after ``prompt`` (1-D codes), and the most cache bytes held.

    See the module's docstring for the window rule both ways share.
    """
    check_int("length", length)
    if prompt.dim() != 1 or prompt.numel() == 0:
        raise ShapeError("the prompt must be a non-empty 1-D tensor of codes")
    if not temperature > 0:
        raise ConfigError(f"temperature must be above 0, got {temperature!r}")
    model.eval()
    keep = model.context // 2
    codes = prompt.tolist()
    start = max(0, len(codes) - model.context)
    cache, logits, most = None, None, 0
    for _ in range(length):
        if len(codes) - start > model.context:  # the window is full: start a new one
            start, cache = len(codes) - keep, None
        if not use_cache:
            logits, _ = model(torch.tensor([codes[start:]]))
        elif cache is None:
            logits, cache = model(torch.tensor([codes[start:]]))
        else:
            logits, cache = model(torch.tensor([codes[-1:]]), cache=cache)
        if cache is not None:
            most = max(most, cache_bytes(cache))
        codes.append(_draw(logits[0, -1], temperature, generator))
    return torch.tensor(codes[len(prompt) :]), most


class TorchReference(nn.Module):
    """The same model built from ``nn.TransformerEncoderLayer`` (pre-norm, GELU, no dropout).

    It shares the embedding, positions, final norm and read-out with ``model`` and holds a copy
    of every block's weights; with a causal mask it must give the same logits.
    """

    def __init__(self, model: CharTransformer) -> None:
        super().__init__()
        width, heads = model.config["d_model"], model.config["num_heads"]
        self.model = model
        self.layers = nn.ModuleList()
        for block in model.blocks:
            layer = nn.TransformerEncoderLayer(
                width, heads, dim_feedforward=block.linear1.out_features, dropout=0.0,
                activation="gelu", batch_first=True, norm_first=True,
            )  # fmt: skip
            layer.to(block.linear1.weight.dtype)
            with torch.no_grad():
                attention = layer.self_attn
                attention.in_proj_weight.copy_(block.self_attn.in_proj.weight)
                attention.in_proj_bias.copy_(block.self_attn.in_proj.bias)
                attention.out_proj.load_state_dict(
                    block.self_attn.out_proj.state_dict()
                )
                for name in ("linear1", "linear2", "norm1", "norm2"):
                    getattr(layer, name).load_state_dict(
                        getattr(block, name).state_dict()
                    )
            self.layers.append(layer)

    def forward(self, codes: Tensor) -> Tensor:
        """Logits (batch, T, vocab_size), through PyTorch's layers with a causal mask."""
        steps = codes.size(1)
        x = self.model.embedding(codes) + self.model.position[:steps]
        mask = nn.Transformer.generate_square_subsequent_mask(steps, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.model.head(self.model.norm(x))
