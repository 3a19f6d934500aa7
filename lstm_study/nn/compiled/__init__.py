"""The LSTM's time loop in compiled code: ``LSTM(..., backend="compiled")``.

The fused loop (:mod:`lstm_study.nn.fused`) already does per step what cuDNN does: one
matrix product for all four gates and a few elementwise operators. What remains between it
and ``torch.nn.LSTM`` on a CPU is Python: each step still sends about eight operators
forward and five backward through the interpreter and the dispatcher, and each elementwise
operator reads and writes the whole gate block once more. ``lstm_loop.cpp``, beside this
file, runs one direction of one layer in C++: the input projection in one product per chunk
of steps, then per step one product for all four gates and ONE pass over the gate block for
all four nonlinearities and the cell update (forward), or for all four gate gradients
(backward). For a small layer (``W_hh`` up to 256 KB: 128 units) each step's product is a
20-line kernel of its own (``small_gemm``), which keeps its sums in vector registers and pays
no library call; the weight stays in the core's cache from step to step, and the weights'
gradients are summed step by step while each step's numbers are in cache. Larger products go
through ATen, to oneDNN's matmul with ``W_hh`` reordered once (float32) or to ``at::mm``
(float64, or ``PRODUCTS = "aten"``, which also turns the small kernel off); their weight
gradients are one product after the loop, on inputs the loop transposes itself. Every buffer
the loop allocates above 256 KB is recycled from call to call rather than faulted in afresh
(the pool keeps up to 512 MB of free buffers for the life of the process). With the small
kernel and several threads, blocks of the batch's rows run through the whole loop on their
own threads (``SPLIT_ROWS``).

It is compiled by :func:`torch.utils.cpp_extension.load` on first use (g++ and ninja; about
12 s on 2 cores) and cached in ``TORCH_EXTENSIONS_DIR`` (by default ``~/.cache/torch_extensions``),
under a name that changes with the source, the compiler flags, torch's version and this
processor's instruction sets, so a cache made on one processor is never loaded on another.
One process builds at a time and the others wait for it (:mod:`.build`); a build killed
halfway (a kernel restarted during the first build) leaves a lock that the next process
removes, saying so, instead of waiting on it forever (every wait has a bound,
``build.WAIT_SECONDS``). Where it cannot be built (no compiler, a failed build, that bound
passed) or cannot run (a GPU tensor, half precision), the layer warns once and runs the fused
loop instead: never a crash.
"""

from __future__ import annotations

import hashlib
import platform
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

#: the C++ source of the compiled loop
SOURCE = Path(__file__).with_name("lstm_loop.cpp")
#: optimise; ``-fopenmp`` for ``#pragma omp simd`` (the vectorised elementwise loops) and for
#: ``at::parallel_for``, which is OpenMP inside PyTorch's headers (and serial without it);
#: ``-fno-trapping-math`` lets GCC turn the exponential's clamp into vector code without
#: AVX-512's masks (for AVX2 it otherwise leaves the whole elementwise pass scalar)
FLAGS = ["-O3", "-fopenmp", "-ffp-contract=fast", "-fno-trapping-math"]
#: dtypes the compiled loop takes
DTYPES = (torch.float32, torch.float64)
#: where the loop's matrix products go: ``"auto"`` (a small layer's step products to the
#: loop's own kernel, the others to oneDNN for float32 where torch has it, else ATen's mm) or
#: ``"aten"`` (always ATen's mm: the BLAS torch was built with)
PRODUCTS = "auto"
#: with several threads and the small kernel, run blocks of the batch's rows through the whole
#: time loop each on its own thread (True), or split only each step's elementwise pass
SPLIT_ROWS = True

# None: not tried yet; True: loaded; a string: why it could not be built
_status: bool | str | None = None
_warned: set[str] = set()


def _native_flags() -> list[str]:
    """``-march=native`` on x86-64 (AVX2 or AVX-512 for the elementwise loops), nothing elsewhere."""
    return ["-march=native"] if platform.machine() in ("x86_64", "AMD64") else []


def _cpu_signature() -> str:
    """The processor's instruction-set flags (Linux), so a build is tied to the CPU it targets."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def extension_name() -> str:
    """The build's name: changes with the source, the flags, torch's version and the processor."""
    digest = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        " ".join(FLAGS + _native_flags()).encode(),
        torch.__version__.encode(),
        _cpu_signature().encode(),
    ):
        digest.update(part)
    return f"lstm_study_loop_{digest.hexdigest()[:12]}"


def load(verbose: bool = False) -> bool:
    """Build (first use) and load the compiled loop; True if it is available.

    On failure returns False and remembers why (:func:`unavailable_reason`); it does not
    try again in this process.
    """
    global _status
    if _status is None:
        try:
            from lstm_study.nn.compiled.build import build_and_load

            build_and_load(
                name=extension_name(),
                sources=[str(SOURCE)],
                extra_cflags=FLAGS + _native_flags(),
                extra_ldflags=["-fopenmp"],
                verbose=verbose,
            )
            _status = True
        except (
            Exception
        ) as error:  # a missing compiler, a failed build, an unloadable library
            text = " ".join(str(error).split())
            _status = f"{type(error).__name__}: {text[:300]}"
    return _status is True


def unavailable_reason() -> str | None:
    """Why the compiled loop could not be built, or None if it is loaded (or not yet tried)."""
    return _status if isinstance(_status, str) else None


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        warnings.warn(message, RuntimeWarning, stacklevel=4)


def can_run(projected: Tensor) -> bool:
    """Whether the compiled loop takes this input; if not, warn once and say so."""
    if projected.device.type != "cpu" or projected.dtype not in DTYPES:
        _warn_once(
            f"{projected.device.type}-{projected.dtype}",
            f'LSTM backend="compiled" runs on the CPU in float32 or float64; for '
            f"{projected.dtype} on {projected.device.type} the fused loop runs instead",
        )
        return False
    if not load():
        _warn_once(
            "build",
            'LSTM backend="compiled": the C++ loop could not be built, so the fused loop '
            f"runs instead ({unavailable_reason()}). It needs a C++ compiler (g++) and ninja.",
        )
        return False
    return True


def use_onednn(dtype: torch.dtype) -> bool:
    """Whether the loop's products go to oneDNN (float32, torch built with it, ``PRODUCTS``)."""
    if PRODUCTS == "aten" or dtype != torch.float32:
        return False
    return bool(
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


class CompiledLSTMLayer(torch.autograd.Function):
    """One direction of one LSTM layer, input projection included, through the C++ loop.

    ``(x, W_ih, W_hh, b, h_0, c_0, reverse, trace) -> (output, h_n, c_n)`` with ``x``
    (seq_len, batch, input_size), ``b = b_ih + b_hh`` or None, ``h_0``, ``c_0``
    (batch, hidden); ``trace`` as in :func:`lstm_study.nn.fused.fused_lstm_scan`.
    """

    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        h0: Tensor,
        c0: Tensor,
        reverse: bool,
        trace: list[Tensor] | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        onednn = use_onednn(x.dtype)
        small = PRODUCTS == "auto" and x.dtype == torch.float32
        output, h_n, c_n, gates, hs, cs, tanh_cs = torch.ops.lstm_study.lstm_forward(
            x, weight_ih, weight_hh, bias, h0, c0, reverse, onednn, small, SPLIT_ROWS
        )
        if trace is not None:
            new = slice(0, x.size(0)) if reverse else slice(1, None)
            trace.extend(gate.contiguous() for gate in gates.chunk(4, dim=2))
            trace.append(cs[new].clone())
        ctx.save_for_backward(x, weight_ih, weight_hh, gates, hs, cs, tanh_cs)
        ctx.reverse, ctx.onednn, ctx.has_bias = reverse, onednn, bias is not None
        ctx.small, ctx.split = small, SPLIT_ROWS
        return output, h_n, c_n

    @staticmethod
    def backward(ctx: Any, d_output: Tensor, d_h_n: Tensor, d_c_n: Tensor):
        if torch.is_grad_enabled():
            raise RuntimeError(
                "the compiled LSTM loop has no second derivative (backward ran with "
                'create_graph=True); use backend="readable", which autograd differentiates twice'
            )
        dx, d_w_ih, d_w_hh, d_bias, d_h0, d_c0 = torch.ops.lstm_study.lstm_backward(
            d_output, d_h_n, d_c_n, *ctx.saved_tensors, ctx.has_bias, ctx.reverse,
            ctx.onednn, ctx.small, ctx.split,
        )  # fmt: skip
        return (
            dx,
            d_w_ih,
            d_w_hh,
            d_bias if ctx.has_bias else None,
            d_h0,
            d_c0,
            None,
            None,
        )


def compiled_lstm_layer(
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    h0: Tensor,
    c0: Tensor,
    reverse: bool = False,
    trace: list[Tensor] | None = None,
) -> tuple[Tensor, Tensor, Tensor] | None:
    """Run one LSTM direction through the C++ loop; None where it cannot run (it has warned)."""
    if not can_run(x):
        return None
    return CompiledLSTMLayer.apply(
        x, weight_ih, weight_hh, bias, h0, c0, reverse, trace
    )
