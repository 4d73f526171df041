"""What this machine has for a run: the host memory available, the GPU TensorFlow computes on
and its free memory, the malloc settings the command line runs with and the threads TensorFlow
computes with."""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

# glibc malloc: hand blocks of 1 MiB and more straight back to the system when freed (no heap
# fragmentation creeping up run after run) and back them with transparent huge pages (so the
# page faults of re-mapping them cost nothing measurable). 512 px: peak 1.53 -> 1.25 GB, same speed.
MALLOC_TUNABLES = "glibc.malloc.hugetlb=1:glibc.malloc.mmap_threshold=1048576"


def wants_malloc_tunables(environ: dict) -> bool:
    """True on glibc Linux when the process runs without GLIBC_TUNABLES (which glibc reads only
    at start-up, so the command line re-executes itself with MALLOC_TUNABLES). A user's own
    GLIBC_TUNABLES, even empty, is left alone."""
    return (
        "GLIBC_TUNABLES" not in environ
        and platform.system() == "Linux"
        and platform.libc_ver()[0] == "glibc"
    )


@dataclass(frozen=True)
class GpuMemory:
    """The GPU TensorFlow computes on: its name and the bytes this process may use (its total
    less what other processes hold)."""

    name: str
    available_bytes: int


def gpu_memory(run: Callable = subprocess.run) -> GpuMemory | None:
    """The first GPU's name and the memory left to this process, from `nvidia-smi` (total less
    the other processes' use, so memory TensorFlow already reserved here still counts as
    available); None without nvidia-smi or on unexpected output."""
    query = ["nvidia-smi", "--format=csv,noheader,nounits"]
    try:
        gpus = run([*query, "--query-gpu=name,memory.total,uuid"],
                   capture_output=True, text=True, timeout=10)  # fmt: skip
        apps = run([*query, "--query-compute-apps=pid,gpu_uuid,used_memory"],
                   capture_output=True, text=True, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_gpu_memory(gpus.stdout, apps.stdout, os.getpid())


def parse_gpu_memory(gpus_csv: str, apps_csv: str, own_pid: int) -> GpuMemory | None:
    """GpuMemory of the first GPU from nvidia-smi's CSV answers (MiB), or None."""
    try:
        name, total, uuid = (part.strip() for part in gpus_csv.strip().splitlines()[0].split(","))
        others = 0
        for line in apps_csv.strip().splitlines():
            pid, app_uuid, used = (part.strip() for part in line.split(","))
            if app_uuid == uuid and int(pid) != own_pid:
                others += int(used)
        return GpuMemory(name, (int(total) - others) * 2**20)
    except (IndexError, ValueError):
        return None


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo, or None where that is not known."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def use_threads(count: int) -> None:
    """Have TensorFlow compute with `count` intra-op threads in this process (0: its default).
    The count decides how float32 sums are split, so equal counts give equal results in this
    process and in a Ray worker (where Ray sets OMP_NUM_THREADS to the trial's CPUs).
    ValueError (one line) where TensorFlow already runs here with another count."""
    if not count:
        return
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(count)
    except RuntimeError:  # set once, before TensorFlow's first operation
        running = tf.config.threading.get_intra_op_parallelism_threads() or "its default"
        raise ValueError(f"--threads={count}: TensorFlow already runs in this process with "
                         f"{running} threads") from None  # fmt: skip
