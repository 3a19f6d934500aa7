"""The character Transformer against PyTorch's attention and encoder layer; the cache."""

import pytest
import torch
from torch import nn

from lstm_study.errors import ConfigError
from lstm_study.text.transformer import (
    CharTransformer,
    TorchReference,
    cache_bytes,
    causal_attention,
    generate,
    sinusoids,
)


def test_attention_matches_scaled_dot_product_attention_outputs_and_gradients():
    generator = torch.Generator().manual_seed(0)
    shape = (2, 3, 11, 8)
    q, k, v = (
        torch.randn(shape, generator=generator, dtype=torch.float64).requires_grad_()
        for _ in range(3)
    )
    weights = torch.randn(shape, generator=generator, dtype=torch.float64)
    ours = causal_attention(q, k, v)
    theirs = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)
    ours_grads = torch.autograd.grad((ours * weights).sum(), (q, k, v))
    theirs_grads = torch.autograd.grad((theirs * weights).sum(), (q, k, v))
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_attention_with_fewer_queries_than_keys_is_the_last_rows():
    generator = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 2, 9, 4, generator=generator) for _ in range(3))
    whole = causal_attention(q, k, v)
    torch.testing.assert_close(causal_attention(q[:, :, -3:], k, v), whole[:, :, -3:])


def _reference(model: CharTransformer) -> nn.ModuleList:
    """nn.TransformerEncoderLayer (pre-norm, GELU, no dropout) with the model's weights."""
    width = model.config["d_model"]
    layers = nn.ModuleList()
    for block in model.blocks:
        layer = nn.TransformerEncoderLayer(
            width, model.config["num_heads"], dim_feedforward=4 * width,
            dropout=0.0, activation="gelu", batch_first=True, norm_first=True,
        ).double()  # fmt: skip
        with torch.no_grad():
            layer.self_attn.in_proj_weight.copy_(block.self_attn.in_proj.weight)
            layer.self_attn.in_proj_bias.copy_(block.self_attn.in_proj.bias)
            layer.self_attn.out_proj.weight.copy_(block.self_attn.out_proj.weight)
            layer.self_attn.out_proj.bias.copy_(block.self_attn.out_proj.bias)
            for name in ("linear1", "linear2", "norm1", "norm2"):
                getattr(layer, name).load_state_dict(getattr(block, name).state_dict())
        layers.append(layer)
    return layers


@pytest.mark.parametrize("positions", ["learned", "sinusoidal"])
def test_model_matches_a_reference_built_from_transformer_encoder_layers(positions):
    torch.manual_seed(0)
    model = CharTransformer(13, d_model=16, num_layers=3, num_heads=4, context=10,
                            positions=positions).double()  # fmt: skip
    layers = _reference(model)
    codes = torch.randint(0, 13, (2, 10))
    mask = nn.Transformer.generate_square_subsequent_mask(10, dtype=torch.float64)

    def reference(codes):
        x = model.embedding(codes) + model.position[: codes.size(1)]
        for layer in layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return model.head(model.norm(x))

    ours, _ = model(codes)
    theirs = reference(codes)
    torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)
    # the package's TorchReference (the chapter's check) is the same reference
    torch.testing.assert_close(TorchReference(model)(codes), theirs, rtol=0, atol=0)
    weights = torch.randn_like(ours)
    shared = [model.embedding.weight, model.norm.weight, model.head.weight]
    if positions == "learned":
        shared.append(model.position)
    names = {  # our name in a block -> the encoder layer's
        "self_attn.in_proj.weight": "self_attn.in_proj_weight",
        "self_attn.in_proj.bias": "self_attn.in_proj_bias",
    }
    ours_params, theirs_params = list(shared), list(shared)
    for block, layer in zip(model.blocks, layers, strict=True):
        theirs_named = dict(layer.named_parameters())
        for name, parameter in block.named_parameters():
            ours_params.append(parameter)
            theirs_params.append(theirs_named.pop(names.get(name, name)))
        assert not theirs_named  # every parameter of the reference has its twin
    ours_grads = torch.autograd.grad((ours * weights).sum(), ours_params)
    theirs_grads = torch.autograd.grad((theirs * weights).sum(), theirs_params)
    assert len(ours_grads) == len(shared) + 3 * 12
    for a, b in zip(ours_grads, theirs_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_the_cache_gives_the_logits_of_one_call():
    torch.manual_seed(0)
    model = CharTransformer(
        7, d_model=8, num_layers=2, num_heads=2, context=12
    ).double()
    codes = torch.randint(0, 7, (3, 12))
    whole, cache = model(codes)
    first, cache = model(codes[:, :5])
    rest = [first]
    for t in range(5, 12):
        logits, cache = model(codes[:, t : t + 1], cache=cache)
        rest.append(logits)
    torch.testing.assert_close(torch.cat(rest, dim=1), whole)
    assert cache_bytes(cache) == 2 * 2 * 3 * 12 * 8 * 8


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_generation_with_the_cache_equals_generation_without(dtype):
    torch.manual_seed(0)
    model = CharTransformer(9, d_model=16, num_layers=2, num_heads=2, context=8).to(
        dtype
    )
    prompt = torch.tensor([1, 2, 3])
    drawn = {}
    for use_cache in (True, False):
        generator = torch.Generator().manual_seed(5)
        drawn[use_cache] = generate(
            model, prompt, 40, use_cache=use_cache, generator=generator
        )
    (with_cache, most), (without, none_held) = drawn[True], drawn[False]
    assert with_cache.tolist() == without.tolist() and len(with_cache) == 40
    itemsize = torch.empty((), dtype=dtype).element_size()
    assert most == 2 * 2 * 2 * 8 * 8 * itemsize and none_held == 0


def test_sinusoids_are_the_published_table():
    table = sinusoids(5, 4)
    assert table[3, 0] == pytest.approx(torch.sin(torch.tensor(3.0)).item())
    assert table[3, 3] == pytest.approx(torch.cos(torch.tensor(3 / 100.0)).item())


def test_bad_inputs_are_refused():
    model = CharTransformer(5, d_model=8, num_layers=1, num_heads=2, context=4)
    with pytest.raises(ConfigError):
        model(torch.zeros(1, 5, dtype=torch.long))
    with pytest.raises(ConfigError):
        model(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1))
    with pytest.raises(ConfigError):
        CharTransformer(5, d_model=6, num_heads=4)
    with pytest.raises(ConfigError):
        CharTransformer(5, positions="rotary")
