"""The compiled loop for every cell (each LSTM variant, the GRU, the plain RNN) against the readable loop.

Each model's fast path must give the readable loop's outputs, final states and every gradient
(input, initial state, each parameter), and the tests check that the compiled loop really ran
(its backward node is in the graph), not a fallback. ``test_compiled.py`` holds the standard
LSTM against ``torch.nn.LSTM``; ``test_fused.py`` the fused loop.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch import nn

from lstm_study.errors import ConfigError
from lstm_study.nn import GRU, LSTM, RNN, VARIANTS, compiled
from tests.nn.lstm_grads import outputs_and_grads

#: every model the compiled loop runs: name -> constructor taking (input, hidden, **options)
MODELS: dict[str, Callable[..., nn.Module]] = {
    **{
        f"lstm-{variant}": lambda i, h, v=variant, **k: LSTM(i, h, variant=v, **k)
        for variant in VARIANTS
    },
    "gru": lambda i, h, **k: GRU(i, h, **k),
    "rnn-tanh": lambda i, h, **k: RNN(i, h, **k),
    "rnn-relu": lambda i, h, **k: RNN(i, h, nonlinearity="relu", **k),
}
CONFIGS = {
    "2-layers-bidirectional-batch-first": dict(
        num_layers=2, bidirectional=True, batch_first=True
    ),
    "1-layer-no-bias": dict(bias=False),
    "unbatched": dict(bidirectional=True),
}
TOLERANCE = {
    torch.float32: dict(atol=1e-5, rtol=1e-4),
    torch.float64: dict(atol=1e-12, rtol=1e-10),
}


def _graph_names(tensor: torch.Tensor) -> set[str]:
    """The names of every autograd node behind ``tensor``."""
    nodes, seen = [tensor.grad_fn], set()
    while nodes:
        node = nodes.pop()
        if node is not None and node not in seen:
            seen.add(node)
            nodes.extend(parent for parent, _ in node.next_functions)
    return {node.name() for node in seen}


def _pair(model: str, inputs: int, hidden: int, dtype: torch.dtype, **config):
    """The model on the compiled loop and on the readable loop, with the same weights."""
    torch.manual_seed(0)
    fast = MODELS[model](inputs, hidden, backend="compiled", dtype=dtype, **config)
    readable = MODELS[model](inputs, hidden, backend="readable", dtype=dtype, **config)
    readable.load_state_dict(fast.state_dict())
    return fast, readable


def _state(module: nn.Module, batch: int | None, dtype: torch.dtype):
    """A random initial state for ``module``: (h, c) for an LSTM, h otherwise."""
    shape = (module.num_layers * module.num_directions, module.hidden_size)
    shape = shape if batch is None else (shape[0], batch, shape[1])
    states = [torch.randn(shape, dtype=dtype) for _ in range(module.state_count)]
    return tuple(states) if module.state_count == 2 else states[0]


def _compare(fast, readable, x, hx, dtype) -> None:
    mine, reference = (outputs_and_grads(m, x, hx) for m in (fast, readable))
    assert "CompiledLayerBackward" in _graph_names(mine[0][0])
    assert "CompiledLayerBackward" not in _graph_names(reference[0][0])
    for a, b in zip(mine[0] + mine[1], reference[0] + reference[1], strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("config", CONFIGS.values(), ids=CONFIGS.keys())
@pytest.mark.parametrize("model", MODELS)
def test_the_compiled_loop_equals_the_readable_loop(model, config, dtype):
    fast, readable = _pair(model, 3, 6, dtype, **config)
    unbatched = config is CONFIGS["unbatched"]
    batch = None if unbatched else 5
    shape = (7, 3) if unbatched else ((5, 7, 3) if fast.batch_first else (7, 5, 3))
    x = torch.randn(shape, dtype=dtype)
    _compare(fast, readable, x, _state(fast, batch, dtype), dtype)


@pytest.mark.parametrize("model", MODELS)
def test_the_small_kernels_full_blocks_and_the_library_products(model):
    # 64 units: the small kernel's full column blocks (float32, rows split over 2 threads);
    # 300 units: W_hh above 256 KB for every cell, so the step products go to the library
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for hidden, batch in ((64, 40), (300, 6)):
            fast, readable = _pair(model, 5, hidden, torch.float32, bidirectional=True)
            x = torch.randn(6, batch, 5)
            mine, reference = (outputs_and_grads(m, x, None) for m in (fast, readable))
            assert "CompiledLayerBackward" in _graph_names(mine[0][0])
            for a, b in zip(
                mine[0] + mine[1], reference[0] + reference[1], strict=True
            ):
                # weight gradients sum batch x steps rows in another order: relative slack
                slack = 2e-6 * b.abs().max().item()
                torch.testing.assert_close(a, b, atol=1e-5 + slack, rtol=1e-4)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("cell", [c for c in compiled.CELLS if c != "standard"])
def test_each_cell_gradchecks_in_double_precision(cell, reverse):
    # (test_compiled.py gradchecks the standard cell)
    torch.manual_seed(1)
    d, hidden = torch.float64, 3
    blocks = {"rnn_tanh": 1, "rnn_relu": 1, "peephole": 4, "no_output_activation": 4}
    rows = blocks.get(cell, 3) * hidden
    cell_weight = {"peephole": (3, hidden), "gru": (hidden,)}.get(cell)
    args = (
        torch.randn(5, 2, 2, dtype=d),  # x
        torch.randn(rows, 2, dtype=d),  # W_ih
        torch.randn(rows, hidden, dtype=d),  # W_hh
        torch.randn(rows, dtype=d),  # b
        None if cell_weight is None else torch.randn(cell_weight, dtype=d),
        torch.randn(2, hidden, dtype=d),  # h_0
        torch.randn(2, hidden, dtype=d)
        if cell in VARIANTS
        else torch.zeros(2, hidden, dtype=d),
    )
    args = tuple(None if a is None else a.requires_grad_() for a in args)
    if cell in VARIANTS:
        function = lambda *a: compiled.compiled_layer(cell, *a, reverse)  # noqa: E731
    else:  # c_0 and c_n are placeholders: leave them out
        c0 = args[-1].detach()
        function = lambda *a: compiled.compiled_layer(cell, *a, c0, reverse)[:2]  # noqa: E731
        args = args[:-1]
    assert torch.autograd.gradcheck(function, args)


@pytest.mark.parametrize("model", ["lstm-peephole", "lstm-coupled", "gru", "rnn-tanh"])
def test_second_derivatives_through_the_compiled_loop(model):
    fast, readable = _pair(model, 2, 3, torch.float64, bidirectional=True)
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: fast(x)[0], (x,))
    results = []
    for layer in (fast, readable):
        x_i = x.detach().clone().requires_grad_()
        (grad,) = torch.autograd.grad(layer(x_i)[0].sin().sum(), x_i, create_graph=True)
        grad.square().sum().backward()
        results.append([grad, x_i.grad, *(p.grad for p in layer.parameters())])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize(
    "model", ["lstm-standard", "lstm-no_forget_gate", "gru", "rnn-relu"]
)
def test_auto_runs_the_readable_loop_under_vmap_and_jacobian_agrees(model):
    # torch.func.vmap cannot run a hand-written backward's Function: "auto" steps aside; and
    # jacobian(vectorize=True) (chapter 4) batches the compiled backward itself
    fast, readable = _pair(
        model, 2, 4, torch.float64, batch_first=True, bidirectional=True
    )
    fast.backend = "auto"
    x = torch.randn(3, 1, 5, 2, dtype=torch.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mapped = torch.func.vmap(lambda x: fast(x)[0])(x)
    torch.testing.assert_close(mapped, torch.stack([readable(x_i)[0] for x_i in x]))
    jacobians = [
        torch.autograd.functional.jacobian(lambda x, m=m: m(x)[0], x[0], vectorize=True)
        for m in (fast, readable)
    ]
    assert "CompiledLayerBackward" in _graph_names(fast(x[0])[0])
    torch.testing.assert_close(*jacobians, atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_recorded_gates_of_every_variant_match_the_readable_loop(variant):
    fast, readable = _pair(
        f"lstm-{variant}", 3, 4, torch.float64, batch_first=True, num_layers=2
    )
    fast.backend = "auto"
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    traces = []
    for layer in (fast, readable):
        with layer.recording_gates() as recorded:
            output, _ = layer(x)
        traces.append(list(recorded))
    assert "CompiledLayerBackward" in _graph_names(fast(x)[0])
    for mine, reference in zip(*traces, strict=True):
        for gate in "ifgoc":
            torch.testing.assert_close(
                getattr(mine, gate), getattr(reference, gate), atol=1e-12, rtol=1e-10
            )


@pytest.mark.parametrize("family", [LSTM, GRU, RNN], ids=lambda f: f.__name__)
def test_the_backend_is_checked_and_shown_only_when_not_the_default(family):
    layer = family(2, 3)
    assert layer.backend == "auto" and "backend" not in repr(layer)
    layer.backend = "readable"
    assert "backend='readable'" in repr(layer)
    with pytest.raises(ConfigError, match="backend must be one of"):
        family(2, 3, backend="cudnn")
    if family is not LSTM:
        with pytest.raises(ConfigError, match="backend must be one of"):
            family(2, 3, backend="fused")  # only the LSTM has a fused loop


@pytest.mark.parametrize("family", [LSTM, GRU, RNN], ids=lambda f: f.__name__)
def test_auto_falls_back_silently_and_compiled_warns_once(family, monkeypatch):
    monkeypatch.setattr(compiled, "_warned", set())
    torch.manual_seed(4)
    layer = family(2, 3).to(torch.bfloat16)
    x = torch.randn(4, 2, 2, dtype=torch.bfloat16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        output = layer(x)[0]
    assert "CompiledLayerBackward" not in _graph_names(output)
    layer.backend = "compiled"
    expected = "fused" if family is LSTM else "readable"
    with pytest.warns(
        RuntimeWarning, match=f"the {expected} loop runs instead"
    ) as caught:
        layer(x)
        layer(x)
    assert len(caught) == 1


def test_gru_with_the_reset_gate_before_runs_the_readable_loop():
    layer = GRU(2, 3, reset="before")
    assert "CompiledLayerBackward" not in _graph_names(layer(torch.randn(4, 1, 2))[0])


def test_every_model_agrees_with_atens_portable_kernels(tmp_path):
    # ATEN_CPU_CAPABILITY=default: ATen's own kernels (the products, the readable loop's
    # operators) without AVX2 or AVX-512, as on an older CPU; the compiled loop is the same
    # build (its name does not depend on ATen's choice), loaded from the cache
    script = textwrap.dedent(
        """
        import torch
        from lstm_study.nn import compiled
        from tests.nn.test_compiled_cells import MODELS, _pair, _compare, _state
        assert torch.backends.cpu.get_cpu_capability() == "DEFAULT"
        assert compiled.load(), compiled.unavailable_reason()
        torch.set_num_threads(2)
        for model in MODELS:
            for dtype, hidden in ((torch.float32, 64), (torch.float64, 5)):
                fast, readable = _pair(model, 5, hidden, dtype, bidirectional=True)
                x = torch.randn(6, 20, 5, dtype=dtype)
                _compare(fast, readable, x, _state(fast, 20, dtype), dtype)
        print("agrees")
        """
    )
    env = dict(os.environ, ATEN_CPU_CAPABILITY="default")
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "agrees" in result.stdout
