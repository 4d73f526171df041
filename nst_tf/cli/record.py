"""The JSON run record written next to every output: enough to understand and repeat a run.

Made from what the run reports (its settings, inputs, history and what ran), without importing
TensorFlow: versions come from the installed packages' metadata.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sys
import time

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


def library_versions() -> dict[str, str | None]:
    """Versions of Python and of the numerical libraries that shape the result, and the malloc
    settings (`machine.MALLOC_TUNABLES`) that shape its memory use."""
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for package in ("tensorflow", "keras", "scipy", "numpy", "pillow"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    versions["glibc_tunables"] = os.environ.get("GLIBC_TUNABLES")
    return versions


def hash_inputs(paths: dict[str, str | None]) -> dict[str, dict]:
    """role -> {"path", "sha256"} for each input file (sha256 None where there is no file)."""
    return {role: {"path": path, "sha256": file_sha256(path)} for role, path in paths.items()}


def build_record(
    settings: dict, inputs: dict, history: list[dict], outcome: dict, ran: dict | None = None
) -> dict:
    """A JSON-ready dict: the settings (`run_config.flat_settings`), the seed, what ran (`ran`:
    the precision, "tf32" only on a GPU with TF32 tensor cores; the evaluation path, what
    `--evaluation=auto` chose; the devices), versions, hashed inputs (see hash_inputs), the
    outcome (status, counts, timings) and the per-iteration history (losses and seconds)."""
    ran = ran or {}
    versions = {"devices": list(ran.get("devices", ())), **library_versions()}
    return {
        "config": settings,
        "seed": settings.get("seed"),
        "precision": ran.get("precision"),
        "evaluation": ran.get("evaluation"),
        "calibration": ran.get("calibration"),
        "versions": versions,
        "inputs": inputs,
        **outcome,
        "history": history,
    }


def write_record(path: str, record: dict) -> None:
    """Write `record` as indented JSON, atomically."""
    text = json.dumps(record, indent=2, sort_keys=False, default=str) + "\n"
    write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))


class RunRecord:
    """The run record of one output (`record_path`), rewritten atomically as the run goes on:
    its settings and hashed inputs, the history (one dict per iteration, appended by the
    progress reporter) and, at each write, the status and counts reached."""

    def __init__(self, output: str, settings: dict, inputs: dict, history: list[dict]):
        self.path = record_path(output)
        self.settings, self.inputs, self.history = settings, inputs, history
        self.started = time.perf_counter()

    def document(self, status: str, iterations: int, evaluations: int, ran: dict | None = None,
                 **extra) -> dict:  # fmt: skip
        """The record as it stands: `extra` adds outcome fields (stop reason, timings)."""
        outcome = {
            "status": status,
            "iterations": iterations,
            "evaluations": evaluations,
            "seconds": round(time.perf_counter() - self.started, 3),
            **extra,
        }
        return build_record(self.settings, self.inputs, list(self.history), outcome, ran)

    def write(self, document: dict) -> None:
        """Write a `document` of this record (atomically)."""
        write_record(self.path, document)
