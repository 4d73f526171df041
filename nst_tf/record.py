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
    """Versions of Python and of the numerical libraries that shape the result, and the
    devices TensorFlow ran on (a GPU appears here when TensorFlow sees one)."""
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
    }


def build_record(config, result, inputs: dict[str, str | None], extra: dict) -> dict:
    """A JSON-ready dict: config, versions, input hashes, outcome and per-iteration history.

    config: a StyleConfig; result: a StylizeResult or None (run ended before optimising);
    inputs: role -> file path (hashed here); extra: more top-level fields (timings, status).
    """
    record = {
        "config": dataclasses.asdict(config),
        "seed": config.seed,
        "versions": library_versions(),
        "inputs": {
            role: {"path": path, "sha256": file_sha256(path)} for role, path in inputs.items()
        },
    }
    if result is not None:
        record.update(
            iterations=result.iterations,
            evaluations=result.evaluations,
            stop_reason=result.stop_reason,
            initial_losses=result.initial_losses,
            history=[
                {
                    "iteration": item.iteration,
                    "evaluations": item.evaluations,
                    "seconds": round(item.seconds, 4),
                    "losses": item.losses,
                }
                for item in result.history
            ],
        )
    record.update(extra)
    return record


def write_record(path: str, record: dict) -> None:
    """Write `record` as indented JSON, atomically."""
    text = json.dumps(record, indent=2, sort_keys=False, default=str) + "\n"
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
