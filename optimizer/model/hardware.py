"""Accelerator presets, and the arithmetic from hardware to FLOP prices and limits.

A training FLOP costs ``price_per_device_hour / (3600 * peak_flops * mfu)`` dollars
(or ``1 / (3600 * peak_flops * mfu)`` device-hours). A cluster of ``devices``
delivers at most ``devices * peak_flops * mfu * 3600 * hours`` FLOPs before a
deadline, and holds at most ``devices * memory_bytes / bytes_per_param`` parameters
with their training state.
"""

from __future__ import annotations

from dataclasses import dataclass

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class Accelerator:
    """Dense BF16 peak throughput and memory of one device, from its datasheet."""

    peak_flops: float
    """FLOP/s, dense (no sparsity), BF16."""
    memory_bytes: float
    """High-bandwidth memory per device."""
    source: str


GiB = 2.0**30

ACCELERATORS: dict[str, Accelerator] = {
    "V100-32GB": Accelerator(125e12, 32 * GiB, "NVIDIA V100 datasheet: 125 TFLOPS tensor"),
    "A100-40GB": Accelerator(312e12, 40 * GiB, "NVIDIA A100 datasheet: 312 TFLOPS BF16"),
    "A100-80GB": Accelerator(312e12, 80 * GiB, "NVIDIA A100 datasheet: 312 TFLOPS BF16"),
    "H100-SXM": Accelerator(989e12, 80 * GiB, "NVIDIA H100 datasheet: 989 TFLOPS BF16 dense"),
    "TPUv3": Accelerator(123e12, 32 * GiB, "Google Cloud TPU v3: 123 TFLOPS BF16 per chip"),
    "TPUv4": Accelerator(275e12, 32 * GiB, "Google Cloud TPU v4: 275 TFLOPS BF16 per chip"),
}
"""Named accelerators a scenario may give as ``hardware.accelerator``."""


def flops_per_device_hour(peak_flops: float, mfu: float) -> float:
    """FLOPs one device achieves in an hour at model FLOPs utilisation ``mfu``."""
    return SECONDS_PER_HOUR * peak_flops * mfu
