"""The compiled LSTM loop (lstm_study.nn.compiled) against torch.nn.LSTM and the readable loop.

The first test that needs it builds the C++ extension (about 15 s with g++ and ninja, then
cached); where it cannot be built these tests fail, except the one that checks the fallback.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from lstm_study.errors import ConfigError
from lstm_study.nn import LSTM, compiled
from lstm_study.nn.lstm import BACKENDS
from tests.nn.lstm_grads import outputs_and_grads

CONFIGS = [
    dict(num_layers=1, batch_first=False, bidirectional=False),
    dict(num_layers=1, batch_first=True, bidirectional=True),
    dict(num_layers=3, batch_first=True, bidirectional=False),
    dict(num_layers=2, batch_first=False, bidirectional=True),
    dict(num_layers=2, batch_first=True, bidirectional=True, bias=False),
]


def _config_id(config: dict) -> str:
    return "-".join(f"{key}={value}" for key, value in config.items())


@pytest.fixture(
    params=[("auto", True), ("auto", False), ("aten", True)],
    ids=["small-kernel-split", "small-kernel-steps", "aten"],
)
def products(request, monkeypatch) -> tuple[str, bool]:
    """Each way of running a small layer: its own product kernel (rows split over threads or
    not), or ATen's mm."""
    monkeypatch.setattr(compiled, "PRODUCTS", request.param[0])
    monkeypatch.setattr(compiled, "SPLIT_ROWS", request.param[1])
    return request.param


def _graph_names(node, seen=None) -> set[str]:
    """The names of every autograd node behind ``node``."""
    seen = set() if seen is None else seen
    if node is not None and node not in seen:
        seen.add(node)
        for parent, _ in node.next_functions:
            _graph_names(parent, seen)
    return {n.name() for n in seen}


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
@pytest.mark.parametrize(
    "given_state", [False, True], ids=["zero-state", "given-state"]
)
@pytest.mark.parametrize("batch", [5, 40], ids=["batch5", "batch40"])
def test_compiled_equals_torch_in_float32(config, given_state, batch, products):
    torch.manual_seed(0)
    theirs = torch.nn.LSTM(4, 6, **config)
    ours = LSTM(4, 6, backend="compiled", **config)
    ours.load_state_dict(theirs.state_dict())  # state-dict compatible both ways
    directions = 2 if config.get("bidirectional") else 1
    x = torch.randn((batch, 7, 4) if config["batch_first"] else (7, batch, 4))
    shape = (config["num_layers"] * directions, batch, 6)
    hx = (torch.randn(shape), torch.randn(shape)) if given_state else None
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # so that the split into row blocks runs on 2 threads
    try:
        ours_out, ours_grads = outputs_and_grads(ours, x, hx)
    finally:
        torch.set_num_threads(threads)
    their_out, their_grads = outputs_and_grads(theirs, x, hx)
    for mine, reference in zip(ours_out, their_out):
        torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-5)
    for mine, reference in zip(ours_grads, their_grads):
        torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-4)
    assert "CompiledLayerBackward" in _graph_names(ours_out[0].grad_fn)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "no-bias"])
def test_gradcheck_in_double_precision(reverse, bias):
    torch.manual_seed(1)
    d = torch.float64
    args = (
        torch.randn(5, 3, 2, dtype=d, requires_grad=True),  # x
        torch.randn(12, 2, dtype=d, requires_grad=True),  # W_ih
        torch.randn(12, 3, dtype=d, requires_grad=True),  # W_hh
        torch.randn(12, dtype=d, requires_grad=True) if bias else None,
        torch.randn(3, 3, dtype=d, requires_grad=True),  # h_0
        torch.randn(3, 3, dtype=d, requires_grad=True),  # c_0
    )
    assert torch.autograd.gradcheck(
        lambda x, w_ih, w_hh, b, h0, c0: compiled.CompiledLayer.apply(
            "standard", x, w_ih, w_hh, b, None, h0, c0, reverse, None, None
        ),
        args,
    )


def test_the_layer_gradchecks_with_layers_and_directions():
    torch.manual_seed(2)
    lstm = LSTM(3, 4, num_layers=2, bidirectional=True, backend="compiled").double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: lstm(x)[0], (x,))


def test_the_three_backends_agree_and_record_the_same_gates():
    torch.manual_seed(3)
    layers = {name: LSTM(4, 6, num_layers=2, backend=name) for name in BACKENDS}
    assert set(layers) == {"auto", "compiled", "fused", "readable"}
    for layer in layers.values():
        layer.load_state_dict(layers["readable"].state_dict())
    x = torch.randn(8, 3, 4)
    traces = {}
    for name, layer in layers.items():
        with layer.recording_gates() as recorded:
            layer(x)
        traces[name] = recorded
    for name in ("auto", "fused", "compiled"):
        for mine, reference in zip(traces[name], traces["readable"]):
            for gate in "ifgoc":
                torch.testing.assert_close(
                    getattr(mine, gate), getattr(reference, gate), atol=1e-6, rtol=1e-5
                )


def test_a_bad_backend_is_refused_and_the_repr_names_it():
    with pytest.raises(ConfigError, match="backend must be one of"):
        LSTM(2, 3, backend="cudnn")
    lstm = LSTM(2, 3, backend="compiled")
    assert "backend='compiled'" in repr(lstm)
    with pytest.raises(ConfigError):
        lstm.backend = "fast"
    assert lstm.backend == "compiled"


def test_a_second_derivative_differentiates_the_readable_loop():
    # create_graph=True through the compiled loop recomputes the readable loop and lets autograd
    # differentiate it: the same second derivatives as the readable loop's own
    torch.manual_seed(6)
    lstm = LSTM(2, 3, backend="compiled").double()
    readable = LSTM(2, 3, backend="readable").double()
    readable.load_state_dict(lstm.state_dict())
    x = torch.randn(4, 2, 2, dtype=torch.float64)
    results = []
    for layer in (lstm, readable):
        x_i = x.clone().requires_grad_()
        output = layer(x_i)[0]
        (grad,) = torch.autograd.grad(output.sin().sum(), x_i, create_graph=True)
        assert grad.requires_grad
        grad.square().sum().backward()
        results.append([output, grad, x_i.grad, *(p.grad for p in layer.parameters())])
    assert "CompiledLayerBackward" in _graph_names(results[0][0].grad_fn)
    for mine, reference in zip(*results, strict=True):
        torch.testing.assert_close(mine, reference, atol=1e-12, rtol=1e-10)


def test_a_second_derivative_without_the_readable_loop_is_refused():
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    w_ih, w_hh = torch.randn(12, 2, dtype=torch.float64), torch.randn(12, 3).double()
    h0 = c0 = torch.zeros(2, 3, dtype=torch.float64)
    output = compiled.compiled_layer("standard", x, w_ih, w_hh, None, None, h0, c0)[0]
    with pytest.raises(RuntimeError, match='backend="readable"'):
        torch.autograd.grad(output.sum(), x, create_graph=True)


def test_an_input_it_cannot_take_runs_the_fused_loop_with_one_warning(monkeypatch):
    monkeypatch.setattr(compiled, "_warned", set())
    torch.manual_seed(4)
    lstm = LSTM(2, 3, backend="compiled").to(torch.bfloat16)
    x = torch.randn(4, 2, 2, dtype=torch.bfloat16)
    with pytest.warns(RuntimeWarning, match="fused loop runs instead") as caught:
        output, _ = lstm(x)
        lstm(x)
    assert len(caught) == 1
    assert output.dtype == torch.bfloat16


def test_without_a_compiler_it_warns_once_and_runs_the_fused_loop(tmp_path):
    # A fresh process with an empty extension cache and a compiler that does not exist.
    script = textwrap.dedent(
        """
        import warnings
        import torch
        from lstm_study.nn import LSTM, compiled
        torch.manual_seed(0)
        theirs = torch.nn.LSTM(3, 4)
        ours = LSTM(3, 4, backend="compiled")
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(5, 2, 3)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out, _ = ours(x)
            ours(x)
        mine = [str(w.message) for w in caught if "could not be built" in str(w.message)]
        assert len(mine) == 1, mine
        assert "FusedLSTMScan" in out.grad_fn.name()
        torch.testing.assert_close(out, theirs(x)[0], atol=1e-5, rtol=1e-5)
        assert compiled.unavailable_reason()
        print("fell back:", mine[0][:80])
        print("because:", compiled.unavailable_reason())
        """
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "TORCH_EXTENSIONS_DIR": str(tmp_path / "extensions"),
        "CXX": str(tmp_path / "no-such-compiler"),
    }
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],  # this checkout's package
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fell back" in result.stdout
    assert "no C++ compiler" in result.stdout
    # only our one warning: torch is never asked to build, so its banner never shows
    assert "WARNING" not in result.stderr and "not compatible" not in result.stderr, (
        result.stderr
    )


@pytest.mark.parametrize("products", ["auto", "aten"])
@pytest.mark.parametrize(
    "steps, batch", [(4, 3), (40, 64)], ids=["short", "three-chunks"]
)
def test_a_wide_layer_takes_the_library_products(products, steps, batch, monkeypatch):
    # 256 units: W_hh is 1 MB, above the small kernel's limit, so the step products go to
    # oneDNN (float32, "auto") or ATen's mm. With 64 rows the loop projects about 4 MB of rows
    # at a time, 16 steps, so 40 steps take three chunks (16, 16, 8), in both directions.
    monkeypatch.setattr(compiled, "PRODUCTS", products)
    torch.manual_seed(5)
    theirs = torch.nn.LSTM(8, 256, bidirectional=True)
    ours = LSTM(8, 256, bidirectional=True, backend="compiled")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(steps, batch, 8)
    ours_out, ours_grads = outputs_and_grads(ours, x, None)
    their_out, their_grads = outputs_and_grads(theirs, x, None)
    for mine, reference in zip(ours_out + ours_grads, their_out + their_grads):
        # the weight gradients sum steps x batch rows (2560 in three chunks) in another order
        # than torch: 4e-6 of the largest gradient (up to 40) besides the absolute 1e-5
        slack = 4e-6 * reference.abs().max().item() if steps * batch > 1000 else 0.0
        torch.testing.assert_close(mine, reference, atol=1e-5 + slack, rtol=1e-4)
    assert "CompiledLayerBackward" in _graph_names(ours_out[0].grad_fn)


def test_the_build_name_changes_with_the_processor(monkeypatch):
    name = compiled.extension_name()
    assert name.startswith("lstm_study_loop_")
    monkeypatch.setattr(compiled, "_cpu_signature", lambda: "some other cpu")
    assert compiled.extension_name() != name


def test_two_checkouts_of_one_source_build_apart(monkeypatch, tmp_path):
    # ninja's build file names the source by its path: one shared build folder would be
    # rebuilt each time the two checkouts took turns
    name = compiled.extension_name()
    copy = tmp_path / compiled.SOURCE.name
    copy.write_bytes(compiled.SOURCE.read_bytes())
    monkeypatch.setattr(compiled, "SOURCE", copy)
    assert compiled.extension_name() != name


def test_the_small_kernel_at_the_predictor_width(products):
    # 64 units: the step products and the per-step sums of the weight gradients take the small
    # kernel's full 4 x 64 blocks (the 6-unit tests above take only its remainders)
    torch.manual_seed(7)
    theirs = torch.nn.LSTM(5, 64, num_layers=2)
    ours = LSTM(5, 64, num_layers=2, backend="compiled")
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(30, 40, 5)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        ours_out, ours_grads = outputs_and_grads(ours, x, None)
    finally:
        torch.set_num_threads(threads)
    their_out, their_grads = outputs_and_grads(theirs, x, None)
    for mine, reference in zip(ours_out + ours_grads, their_out + their_grads):
        torch.testing.assert_close(mine, reference, atol=1e-5, rtol=1e-4)


def test_large_buffers_are_recycled_but_never_shared():
    # the gates of 64 steps x 64 rows x 1024 columns take 16 MB: a pooled buffer (the pool
    # takes every buffer above 256 KB)
    assert compiled.load()
    torch.manual_seed(8)
    x = torch.randn(64, 64, 8)
    w_ih, w_hh = torch.randn(1024, 8) * 0.1, torch.randn(1024, 256) * 0.05
    h0 = c0 = torch.zeros(64, 256)

    def gates():
        return torch.ops.lstm_study.layer_forward(
            x, w_ih, w_hh, None, None, h0, c0, 0, False, False, False, False
        )[3]

    first = gates()
    kept = first.clone()
    second = gates()  # the first is alive: another buffer
    assert second.data_ptr() != first.data_ptr()
    torch.testing.assert_close(first, kept, rtol=0, atol=0)
    torch.testing.assert_close(second, kept, rtol=0, atol=0)
    address = second.data_ptr()
    del second
    assert gates().data_ptr() == address  # freed, then handed out again


def _cpu_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


#: instruction sets older than this machine's, and the CPU flags that code built for them needs
OLDER_MARCHES = {"x86-64-v3": {"avx2", "fma"}, "x86-64": set()}


def test_built_for_older_processors_it_still_agrees(tmp_path):
    # The loop is built with -march=native, so a machine without AVX-512 compiles the small
    # kernel's narrow blocks and vectorises the elementwise pass for AVX2 or SSE: build it here
    # for those instruction sets (fresh processes, each with its own cache, building at the
    # same time: each compiles on one core) and compare with torch.
    flags = _cpu_flags()
    marches = [m for m, needs in OLDER_MARCHES.items() if needs <= flags]
    if platform.machine() not in ("x86_64", "AMD64") or not marches:
        pytest.skip("this processor cannot run code built for an older x86-64")
    script = textwrap.dedent(
        """
        import sys
        import torch
        from lstm_study.nn import LSTM, compiled
        from tests.nn.lstm_grads import outputs_and_grads
        compiled._native_flags = lambda: ["-march=" + sys.argv[1]]
        assert compiled.load(), compiled.unavailable_reason()
        torch.manual_seed(9)
        torch.set_num_threads(2)
        theirs = torch.nn.LSTM(5, 64, bidirectional=True)
        ours = LSTM(5, 64, bidirectional=True, backend="compiled")
        ours.load_state_dict(theirs.state_dict())
        x = torch.randn(20, 40, 5)
        mine = outputs_and_grads(ours, x, None)
        reference = outputs_and_grads(theirs, x, None)
        for a, b in zip(mine[0] + mine[1], reference[0] + reference[1]):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
        nodes, names = [mine[0][0].grad_fn], set()
        while nodes:
            node = nodes.pop()
            if node is not None:
                names.add(node.name())
                nodes.extend(parent for parent, _ in node.next_functions)
        assert "CompiledLayerBackward" in names, names
        print("agrees")
        """
    )
    runs = {
        march: subprocess.Popen(
            [sys.executable, "-c", script, march],
            env=dict(os.environ, TORCH_EXTENSIONS_DIR=str(tmp_path / march)),
            cwd=Path(__file__).resolve().parents[2],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for march in marches
    }
    for march, run in runs.items():
        out, err = run.communicate(timeout=600)
        assert run.returncode == 0, f"{march}: {err[-2000:]}"
        assert "agrees" in out, march
