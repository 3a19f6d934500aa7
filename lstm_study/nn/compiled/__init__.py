"""The recurrent layers' time loop in compiled code: what ``LSTM``, ``GRU`` and ``RNN`` run by default.

Every layer of :mod:`lstm_study.nn` (the LSTM and each of its variants, the GRU with torch's
reset gate, the plain RNN with tanh or ReLU) runs this loop when its ``backend`` is ``"auto"``
(the default) or ``"compiled"``, wherever it is built and takes the call; the layer's docstring
says what runs otherwise. One C++ loop serves them all: the cell is a template argument of the
elementwise passes (:data:`CELLS`), and the products, the buffers and the threads below are the
same for every cell. A second derivative (``create_graph=True``) differentiates the layer's
readable loop instead, recomputed from the same inputs (:class:`CompiledLayer`).

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
20 s on 2 cores for all ten cells, about twice the LSTM's loop alone) and cached in
``TORCH_EXTENSIONS_DIR`` (by default ``~/.cache/torch_extensions``), under a name that changes
with the source, the compiler flags, torch's version and this processor's instruction sets, so a
cache made on one processor is never loaded on another.
One process builds at a time and the others wait for it (:mod:`.build`); a build killed
halfway (a kernel restarted during the first build) leaves a lock that the next process
removes, saying so, instead of waiting on it forever (every wait has a bound,
``build.WAIT_SECONDS``). Where it cannot be built (no compiler, a failed build, that bound
passed) or cannot run (a GPU tensor, half precision, a ``torch.func`` transform or
``torch.compile`` tracing the call), ``backend="compiled"`` warns once and the layer runs its
fused loop (the standard LSTM) or its readable loop instead: never a crash; ``"auto"`` does the
same without a warning.
"""

from __future__ import annotations

import hashlib
import platform
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lstm_study.errors import ConfigError

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
    """The build's name: changes with the source (and where it lies), the flags, torch's
    version and the processor.

    Where it lies: ninja's build file names the source by its path, so two checkouts of the
    package sharing one name would each find the other's build stale and rebuild it (about 12 s
    on 2 cores, minutes on a loaded machine), every time they took turns.
    """
    digest = hashlib.sha256()
    for part in (
        SOURCE.read_bytes(),
        str(SOURCE.resolve()).encode(),
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


#: the cells the loop runs, by the number ``lstm_loop.cpp`` knows each by (its ``enum Kind``):
#: the LSTM and its variants (:data:`lstm_study.nn.lstm.VARIANTS`), the plain RNN with either
#: nonlinearity and the GRU (reset gate after the recurrent product)
CELLS = {
    "standard": 0,
    "no_forget_gate": 1,
    "no_input_gate": 2,
    "no_output_gate": 3,
    "no_output_activation": 4,
    "coupled": 5,
    "peephole": 6,
    "rnn_tanh": 7,
    "rnn_relu": 8,
    "gru": 9,
}


def transforms_active() -> bool:
    """Whether a ``torch.func`` transform (vmap, grad, jacrev, ...) or ``torch.compile`` is
    tracing this call: the loops with a hand-written backward cannot run there."""
    return bool(torch._C._are_functorch_transforms_active()) or (
        torch.compiler.is_compiling()
    )


def can_run(
    x: Tensor,
    family: str = "LSTM",
    fallback: str = "the fused loop",
    warn: bool = True,
) -> bool:
    """Whether the compiled loop takes this input; if not and ``warn``, warn once and say so.

    ``family`` and ``fallback`` name the layer and what runs instead, for the warning.
    """
    problem = None
    if x.device.type != "cpu" or x.dtype not in DTYPES:
        key = f"{family}-{x.device.type}-{x.dtype}"
        problem = (
            f"runs on the CPU in float32 or float64; for {x.dtype} on {x.device.type} "
            f"{fallback} runs instead"
        )
    elif transforms_active():
        key = f"{family}-transform"
        problem = (
            "does not run under torch.func transforms (vmap, grad, ...) or torch.compile; "
            f"{fallback} runs instead"
        )
    elif not load():
        key = "build"
        reason = unavailable_reason() or ""
        advice = (
            "Another process holds the build: let it finish, or end it."
            if "BuildLockTimeoutError" in reason
            else "It needs a C++ compiler (g++) and ninja."
        )
        problem = (
            f"the C++ loop could not be built, so {fallback} runs instead "
            f"({reason}). {advice}"
        )
    if problem is None:
        return True
    if warn:
        _warn_once(key, f'{family} backend="compiled": {problem}')
    return False


def use_onednn(dtype: torch.dtype) -> bool:
    """Whether the loop's products go to oneDNN (float32, torch built with it, ``PRODUCTS``)."""
    if PRODUCTS == "aten" or dtype != torch.float32:
        return False
    return bool(
        torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
        and hasattr(torch.ops.mkldnn, "_linear_pointwise")
    )


#: ``readable(x, W_ih, W_hh, b, w_cell, h_0, c_0) -> (output, h_n, c_n)``: the same layer
#: direction written as the readable loop, which autograd differentiates (twice if asked)
Readable = Callable[..., tuple[Tensor, Tensor, Tensor]]


class CompiledLayer(torch.autograd.Function):
    """One direction of one recurrent layer, input projection included, through the C++ loop.

    ``(cell, x, W_ih, W_hh, b, w_cell, h_0, c_0, reverse, trace, readable) -> (output, h_n,
    c_n)`` with ``cell`` a key of :data:`CELLS`, ``x`` (seq_len, batch, input_size), ``b``
    the bias added to every step's input projection or None, ``w_cell`` the cell's own weight
    (the peepholes (3, hidden), the GRU's b_hn (hidden)) or None, ``h_0``, ``c_0`` (batch,
    hidden) (an RNN or GRU passes zeros for ``c_0`` and ignores ``c_n``). With ``trace`` a
    list, the gates after their nonlinearities (seq_len, batch, blocks * hidden) and the cell
    states (seq_len, batch, hidden) are appended to it. A second derivative
    (``create_graph=True``) differentiates ``readable`` instead, recomputed from the inputs.
    """

    @staticmethod
    def forward(
        ctx: Any,
        cell: str,
        x: Tensor,
        weight_ih: Tensor,
        weight_hh: Tensor,
        bias: Tensor | None,
        cell_weight: Tensor | None,
        h0: Tensor,
        c0: Tensor,
        reverse: bool,
        trace: list[Tensor] | None,
        readable: Readable | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        # one step (sampling a character at a time) keeps the BLAS: reordering W_hh for oneDNN
        # costs several times the one product it would serve
        onednn = use_onednn(x.dtype) and x.size(0) > 1
        small = PRODUCTS == "auto" and x.dtype == torch.float32
        kind = CELLS[cell]
        output, h_n, c_n, gates, hs, cs, extra = torch.ops.lstm_study.layer_forward(
            x, weight_ih, weight_hh, bias, cell_weight, h0, c0, kind, reverse, onednn,
            small, SPLIT_ROWS,
        )  # fmt: skip
        if trace is not None:
            new = slice(0, x.size(0)) if reverse else slice(1, None)
            trace.extend((gates.clone(), cs[new].clone()))
        ctx.save_for_backward(
            x, weight_ih, weight_hh, bias, cell_weight, h0, c0, gates, hs, cs, extra
        )
        ctx.kind, ctx.reverse, ctx.onednn = kind, reverse, onednn
        ctx.small, ctx.split, ctx.readable = small, SPLIT_ROWS, readable
        return output, h_n, c_n

    @staticmethod
    def backward(ctx: Any, d_output: Tensor, d_h_n: Tensor, d_c_n: Tensor):
        x, w_ih, w_hh, bias, cell_w, h0, c0, gates, hs, cs, extra = ctx.saved_tensors
        inputs = (x, w_ih, w_hh, bias, cell_w, h0, c0)
        if torch.is_grad_enabled():
            # create_graph=True: the C++ backward's products are not themselves differentiable
            # (returning them as constants would make every second derivative silently wrong);
            # differentiate the readable loop instead, recomputed from the same inputs.
            grads = _readable_grads(ctx, inputs, (d_output, d_h_n, d_c_n))
            return (None, *grads, None, None, None)
        dx, d_w_ih, d_w_hh, d_bias, d_cell, d_h0, d_c0 = (
            torch.ops.lstm_study.layer_backward(
                d_output, d_h_n, d_c_n, x, w_ih, w_hh, cell_w, gates, hs, cs, extra,
                ctx.kind, bias is not None, ctx.reverse, ctx.onednn, ctx.small, ctx.split,
            )
        )  # fmt: skip
        return (
            None,
            dx,
            d_w_ih,
            d_w_hh,
            None if bias is None else d_bias,
            None if cell_w is None else d_cell,
            d_h0,
            d_c0,
            None,
            None,
            None,
        )


def _readable_grads(
    ctx: Any, inputs: tuple[Tensor | None, ...], grads: tuple[Tensor, ...]
) -> list[Tensor | None]:
    """The gradients of the readable loop at ``inputs``, as a graph autograd can differentiate."""
    if ctx.readable is None:
        raise RuntimeError(
            "the compiled loop has no second derivative here (backward ran with "
            'create_graph=True); use backend="readable", which autograd differentiates twice'
        )
    needs = ctx.needs_input_grad[1:8]
    with torch.enable_grad():
        outputs = ctx.readable(*inputs)
    wanted = [t for t, need in zip(inputs, needs) if need]
    pairs = [(o, g) for o, g in zip(outputs, grads) if o.requires_grad]
    found = iter(
        torch.autograd.grad(
            [o for o, _ in pairs],
            wanted,
            [g for _, g in pairs],
            create_graph=True,
            allow_unused=True,
        )
    )
    return [next(found) if need else None for need in needs]


def compiled_layer(
    cell: str,
    x: Tensor,
    weight_ih: Tensor,
    weight_hh: Tensor,
    bias: Tensor | None,
    cell_weight: Tensor | None,
    h0: Tensor,
    c0: Tensor,
    reverse: bool = False,
    trace: list[Tensor] | None = None,
    readable: Readable | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Run one direction of one layer through the C++ loop (see :class:`CompiledLayer`).

    The caller checks first that it can run (:func:`can_run`).
    """
    if cell not in CELLS:
        raise ConfigError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
    return CompiledLayer.apply(
        cell,
        x,
        weight_ih,
        weight_hh,
        bias,
        cell_weight,
        h0,
        c0,
        reverse,
        trace,
        readable,
    )
