"""scripts/gpu_check.py --smoke: the GPU check's code, at 64 px on whatever device there is."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO, cli_env


@pytest.mark.slow
def test_the_gpu_check_runs_its_sections_and_its_numeric_checks_pass(tmp_path):
    output = tmp_path / "gpu.json"
    process = subprocess.run(
        [sys.executable, "scripts/gpu_check.py", "--smoke", f"--json={output}"],
        cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert process.returncode == 0, process.stdout + process.stderr
    report = json.loads(output.read_text())
    sections = report["sections"]
    assert set(sections) == {"numeric_checks", "evaluations", "gpu_cfg", "scipy_lbfgsb", "memory",
                             "auto_choice"}  # fmt: skip
    assert len(sections["numeric_checks"]) == 5
    assert all(check["passed"] for check in sections["numeric_checks"])
    assert {row["path"] for row in sections["evaluations"]} == {
        "autodiff_xla", "lean_xla", "autodiff_xla:mixed",
    }  # fmt: skip
    (run,) = sections["gpu_cfg"]
    assert run["optimizer"] == "lbfgs_tf" and run["status"] == "finished"
    # A flat start (noise std 1) may spend the evaluation cap (2 per iteration) in line searches.
    assert run["setup_s"] > 0 and run["checkpoint_s"] >= 0 and 0 < run["iterations"] <= 12
    assert sections["scipy_lbfgsb"][0]["iterations"] == 30
    (choice,) = sections["auto_choice"]  # 64 px: too small to be worth measuring
    assert (choice["size"], choice["source"]) == (64, "default") and choice["choice"]
