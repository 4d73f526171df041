import numpy as np
import pytest

from nst_tf import StyleConfig, stylize
from nst_tf.multiscale import scale_iterations, scale_sizes


def test_sizes_and_iteration_budgets():
    config = StyleConfig(max_size=512, scales=3, scale_factor=2.0, iterations=200)
    assert scale_sizes(config) == [128, 256, 512]
    assert scale_iterations(config) == [115, 57, 28]  # 4:2:1 rounded down, rest to the cheapest
    assert sum(scale_iterations(config)) == 200
    assert scale_iterations(config.replace(iterations=3)) == [1, 1, 1]
    assert scale_sizes(StyleConfig(max_size=100, scales=2, scale_factor=1.5)) == [67, 100]
    printed = StyleConfig(max_size=4096, scales=4, iterations=220, scale_split=(15, 4, 2, 1))
    assert scale_iterations(printed) == [150, 40, 20, 10]  # configs/print.cfg


def test_coarse_to_fine_run_numbers_iterations_across_scales(monkeypatch):
    from nst_tf import features

    loads = []
    load_backbone = features.load_backbone
    monkeypatch.setattr(
        features, "load_backbone", lambda *args: loads.append(args) or load_backbone(*args)
    )
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    seen = []
    config = StyleConfig(weights="none", max_size=96, scales=2, iterations=6, scale_split=(1, 2))
    result = stylize(
        content, style, config, callback=lambda r: seen.append((r.iteration, r.image_vgg.shape))
    )
    assert [iteration for iteration, _ in seen] == [1, 2, 3, 4, 5, 6]
    assert [shape for _, shape in seen] == [(36, 48, 3)] * 2 + [(72, 96, 3)] * 4
    assert result.iterations == 6 and result.image_rgb.shape == (72, 96, 3)
    assert [r.iteration for r in result.history] == [1, 2, 3, 4, 5, 6]
    assert result.evaluations == result.history[-1].evaluations
    assert len(loads) == 1  # one backbone serves every scale


@pytest.mark.slow
def test_cli_coarse_to_fine_and_resume_refused(tmp_path, make_image):
    import json

    from PIL import Image

    from tests.conftest import run_cli

    output = str(tmp_path / "out.png")
    content, style = make_image("c.png", 96, 72), make_image("s.png", seed=1)
    args = [f"--content={content}", f"--style={style}", f"--output={output}", "--weights=none",
            "--max_size=96", "--scales=2", "--iterations=4"]  # fmt: skip
    process = run_cli(*args)
    assert process.returncode == 0, process.stderr
    assert Image.open(output).size == (96, 72)
    assert [item["iteration"] for item in json.load(open(output[:-4] + ".json"))["history"]] == [
        1,
        2,
        3,
        4,
    ]
    refused = run_cli(*args, "--resume")
    assert refused.returncode == 2 and "--scales=1 only" in refused.stderr


def test_the_eta_of_a_coarse_scale_counts_the_finer_ones_at_their_size():
    from nst_tf.cli.reporter import _ScalePace, iteration_costs

    printed = StyleConfig(max_size=4096, scales=4, iterations=220, scale_split=(15, 4, 2, 1))
    costs = iteration_costs(printed)
    assert costs == [1 / 64] * 150 + [1 / 16] * 40 + [1 / 4] * 20 + [1.0] * 10
    assert iteration_costs(StyleConfig(iterations=7)) == [1.0] * 7
    pace = _ScalePace()
    for _ in range(150):
        pace.add(costs[0], 0.1)  # 0.1 s per 512 px iteration: 6.4 s per 4096 px one
    assert pace.seconds_per_cost() * sum(costs[150:]) == pytest.approx(6.4 * (40 / 16 + 5 + 10))
    pace.add(costs[150], 0.5)  # the next scale starts its own pace
    assert pace.iterations == 1 and pace.seconds_per_cost() == pytest.approx(8.0)
