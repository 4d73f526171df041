"""nst_tf as users get it: a wheel installed into a fresh environment and used from another
folder, and the quickstart notebook, executed."""

import json
import os
import subprocess
import sys
import sysconfig

import pytest

from tests.conftest import REPO

# One worker builds the wheel (in the checkout) and installs it once for the module.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("packaging")]


def run(command, **options):
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, **options)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A new virtual environment holding the wheel built from this checkout (no pip, no
    network: the dependencies come from this test's environment through a .pth file, without
    its editable nst_tf)."""
    root = tmp_path_factory.mktemp("installed")
    wheels = root / "wheels"
    run([sys.executable, "-m", "pip", "wheel", REPO, "--no-deps", "--no-build-isolation",
         "-q", "-w", str(wheels)])  # fmt: skip
    venv = root / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    site = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    dependencies = sysconfig.get_paths()["purelib"]
    with open(os.path.join(site.stdout.strip(), "dependencies.pth"), "w") as handle:
        handle.write(dependencies + "\n")
    (wheel,) = wheels.iterdir()
    run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
         "--no-index", "-q", str(wheel)])  # fmt: skip
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    return venv, elsewhere


def test_the_installed_package_is_not_the_checkout(installed):
    venv, elsewhere = installed
    where = run([str(venv / "bin" / "python"), "-c", "import nst_tf; print(nst_tf.__file__)"],
                cwd=elsewhere, env={**os.environ, "PYTHONPATH": ""})  # fmt: skip
    assert where.stdout.strip().startswith(str(venv)), where.stdout


def test_the_installed_command_runs_presets_and_samples_from_any_folder(installed):
    """`nst-tf-run --flagfile=configs/offline.cfg` from a folder with no configs/ and no
    images/: the preset and the sample pair come from the installed package, the output's
    folder is created."""
    venv, elsewhere = installed
    env = {**os.environ, "PYTHONPATH": "", "TF_CPP_MIN_LOG_LEVEL": "3"}
    run([str(venv / "bin" / "nst-tf-run"), "--flagfile=configs/offline.cfg", "--max_size=128",
         "--iterations=2", "--evaluation=lean"], cwd=elsewhere, env=env)  # fmt: skip
    output = elsewhere / "outputs" / "tubingen_starry_night.png"
    assert output.exists()
    record = json.loads(output.with_suffix(".json").read_text())
    assert record["status"] == "finished" and record["config"]["weights"] == "hed"
    content = record["inputs"]["content"]["path"]
    assert content.startswith(str(venv)) and content.endswith("nst_tf/images/tubingen.jpg")
    sweeps = run([str(venv / "bin" / "nst-tf-sweep"), "--flagfile=configs/sweeps/init.cfg",
                  "--dry_run"], cwd=elsewhere, env=env)  # fmt: skip
    assert "cells;" in sweeps.stdout


def test_the_quickstart_notebook_runs(tmp_path, monkeypatch):
    """examples/quickstart.ipynb, executed at 64 px: every cell runs, the pictures show."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    monkeypatch.setenv("NST_TF_EXAMPLE_SIZE", "64")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    notebook = nbformat.read(os.path.join(REPO, "examples", "quickstart.ipynb"), as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})  # fmt: skip
    client.execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    pictures = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(pictures) >= 3  # one style, the blend, the contact sheet
    text = "".join(output.get("text", "") for output in outputs)
    assert "faster" in text and "[4/4]" in text
