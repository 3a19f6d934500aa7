"""Where a measurement was taken: the processor, the vector kernels torch runs, the load.

Timings mean little without the machine they came from: ``make bench`` (:mod:`lstm_study.benchmark`),
the appendix and the tuning search of chapter 10 record it with :func:`machine_info`.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from typing import Any

import torch

#: A machine whose 1-minute load average, per core, exceeds this when timing starts is busy:
#: other work competes for the cores and the ratios are not to be trusted (see benchmarks/README.md).
BUSY_LOAD_PER_CORE = 0.3
#: What :func:`machine_info` records; :func:`check_results` requires every key.
MACHINE_KEYS = (
    "device", "device_name", "cpu_model", "cpu_capability", "threads", "torch", "python", "platform", "date",
    "load_average_1min", "load_average_5min", "cpu_count", "busy", "fused_candidate",
)  # fmt: skip


def machine_info(device: torch.device, threads: int) -> dict[str, Any]:
    """Describe where the figures were taken: hardware, vector kernels, load, versions, thread count, date.

    ``busy`` is True when the 1-minute load average per core exceeds :data:`BUSY_LOAD_PER_CORE`
    as the run starts; ``fused_candidate`` is what the fused LSTM loop measured and chose here
    (:func:`lstm_study.nn.fused.time_candidate_forms`).
    """
    from lstm_study.nn.fused import (
        time_candidate_forms,  # the nn package is not needed for the RNN
    )

    load = os.getloadavg() if hasattr(os, "getloadavg") else (None, None, None)
    cores = os.cpu_count() or 1
    cpu = cpu_description()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        candidate = time_candidate_forms(device)
    finally:
        torch.set_num_threads(previous)
    return {
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else cpu["name"],
        "cpu_model": cpu,
        # which vector kernels torch's CPU operators run: AVX512, AVX2 or DEFAULT (ATEN_CPU_CAPABILITY)
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "threads": threads,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        # Other processes competing for the cores slow both implementations, and threads most.
        "load_average_1min": load[0],
        "load_average_5min": load[1],
        "cpu_count": cores,
        "busy": load[0] is not None and load[0] / cores > BUSY_LOAD_PER_CORE,
        "fused_candidate": {
            "sigmoid_us": candidate.sigmoid * 1e6,
            "tanh_us": candidate.tanh * 1e6,
            "choice": candidate.choice,
        },
    }


def cpu_description() -> dict[str, Any]:
    """The CPU's model name, vendor, family and model numbers, and its widest vector extension."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    widest = next(
        (name for name in ("avx512f", "avx2", "avx", "sse4_2") if name in flags), None
    )
    return {
        "name": fields.get("model name") or platform.processor() or platform.machine(),
        "vendor": fields.get("vendor_id"),
        "family": fields.get("cpu family"),
        "model": fields.get("model"),
        "widest_vector_extension": widest,
    }
