"""The JSON run record written next to every output: enough to understand and repeat a run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import platform
import sys

from nst_tf.image_io import write_atomically


def record_path(output_path: str) -> str:
    """`out/picture.png` -> `out/picture.json`."""
    return os.path.splitext(output_path)[0] + ".json"


def file_sha256(path: str | None) -> str | None:
    """Hex SHA-256 of a file, or None if there is no such file."""
    if path is None or not os.path.isfile(path):
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and of the numerical libraries that shape the result, the devices
    TensorFlow ran on (a GPU appears here when TensorFlow sees one) and the malloc settings
    (`memory.MALLOC_TUNABLES`) that shape its memory use."""
    import keras
    import numpy
    import PIL
    import scipy
    import tensorflow

    return {
        "devices": [device.name for device in tensorflow.config.list_logical_devices()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "scipy": scipy.__version__,
        "numpy": numpy.__version__,
        "pillow": PIL.__version__,
        "glibc_tunables": os.environ.get("GLIBC_TUNABLES"),
    }


def hash_inputs(paths: dict[str, str | None]) -> dict[str, dict]:
    """role -> {"path", "sha256"} for each input file (sha256 None where there is no file)."""
    return {role: {"path": path, "sha256": file_sha256(path)} for role, path in paths.items()}


def build_record(config, inputs: dict, history: list[dict], outcome: dict) -> dict:
    """A JSON-ready dict: config, seed, the precision that ran (`precision.effective_precision`:
    "tf32" only on a GPU with TF32 tensor cores), the evaluation that ran (what
    `--evaluation=auto` chose: `devices.resolve_evaluation`), versions, hashed inputs (see
    hash_inputs), the outcome (status, counts, timings) and the per-iteration history (losses
    and seconds)."""
    from nst_tf.models import evaluation
    from nst_tf.precision import effective_precision, gpu_compute_capabilities

    return {
        "config": dataclasses.asdict(config),
        "seed": config.seed,
        "precision": effective_precision(config.precision, gpu_compute_capabilities()),
        "evaluation": evaluation(config),
        "versions": library_versions(),
        "inputs": inputs,
        **outcome,
        "history": history,
    }


def write_record(path: str, record: dict) -> None:
    """Write `record` as indented JSON, atomically."""
    text = json.dumps(record, indent=2, sort_keys=False, default=str) + "\n"
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
