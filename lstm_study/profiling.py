"""Counting what a recurrent layer asks of the machine: operators per step and autograd nodes.

The appendix "Why cuDNN is fast" uses these to show where the time of a Python loop goes:
every operator is one kernel that reads and writes memory (on a GPU, one launch), and every
autograd node is one more function the backward pass calls. The timing harness is
:mod:`lstm_study.benchmark`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils._python_dispatch import TorchDispatchMode


class _OpCounter(TorchDispatchMode):
    """Count the operators that compute (not views) dispatched while the mode is active."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's signature
        if not func.is_view:
            self.counts[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def count_ops(run: Callable[[], Any]) -> tuple[Counter[str], Any]:
    """Run ``run()`` and return (operator name -> calls, its result), views not counted.

    Each count is one kernel that touches memory: on a GPU, one launch. The forward and the
    backward pass can be counted separately by calling this twice.
    """
    with _OpCounter() as counter:
        result = run()
    return counter.counts, result


def _graph(output: Tensor) -> set[Any]:
    """Every autograd node the backward pass from ``output`` would visit."""
    seen: set[Any] = set()
    stack = [output.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or node in seen:
            continue
        seen.add(node)
        stack.extend(parent for parent, _ in node.next_functions)
    return seen


def graph_nodes(output: Tensor) -> int:
    """Return how many autograd nodes the backward pass from ``output`` would visit."""
    return len(_graph(output))


#: the backward node each hand-written loop leaves in the graph (the readable loop leaves none)
LOOP_NODES = {"CompiledLayerBackward": "compiled", "FusedLSTMScanBackward": "fused"}
#: words in the names of the nodes PyTorch's own recurrent kernels leave (oneDNN, cuDNN, ATen)
TORCH_NODE_WORDS = ("Rnn", "Lstm", "Gru")


def loops_in_graph(output: Tensor) -> set[str]:
    """Which loops computed ``output``: ``"compiled"``, ``"fused"``, ``"torch"`` or ``"readable"``.

    Read off the autograd graph: each hand-written loop leaves one node per layer and
    direction, and PyTorch's LSTM kernels one named for them (``MkldnnRnnLayerBackward0`` on
    the CPU). A recurrent output with none of these came from the readable loop (or from a
    PyTorch layer that autograd records op by op, as its CPU GRU); where a loop of ours
    feeds another, only the hand-written ones are named.
    """
    found: set[str] = set()
    for name in (type(node).__name__ for node in _graph(output)):
        if name in LOOP_NODES:
            found.add(LOOP_NODES[name])
        elif any(word in name for word in TORCH_NODE_WORDS):
            found.add("torch")
    return found or {"readable"}


def ops_per_step(
    layer: nn.Module, batch: int, steps: tuple[int, int] = (20, 40)
) -> dict[str, float]:
    """Operators per time step of ``layer``'s forward and backward, and autograd nodes per step.

    Counted at two sequence lengths; the difference divided by the difference in steps is
    what each step adds (the fixed costs of a call cancel).
    """
    layer(
        torch.randn(
            2, batch, layer.input_size, generator=torch.Generator().manual_seed(0)
        )
    )  # first-call work
    totals = []
    for length in steps:
        x = torch.randn(
            length, batch, layer.input_size, generator=torch.Generator().manual_seed(0)
        )
        for parameter in layer.parameters():
            parameter.grad = None
        forward, (output, _) = count_ops(lambda: layer(x))
        nodes = graph_nodes(output)
        backward, _ = count_ops(lambda: output.sum().backward())
        totals.append((sum(forward.values()), sum(backward.values()), nodes))
    span = steps[1] - steps[0]
    (f0, b0, n0), (f1, b1, n1) = totals
    return {
        "forward": (f1 - f0) / span,
        "backward": (b1 - b0) / span,
        "autograd nodes": (n1 - n0) / span,
    }
