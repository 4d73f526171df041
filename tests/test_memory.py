import pytest

from nst_tf import memory
from nst_tf.config import StyleConfig
from tests.conftest import run_in_process


def test_activation_bytes_by_hand():
    # vgg16 up to block1_conv1 on 10x8: one 64-channel map of 80 positions, float32
    config = StyleConfig(
        backbone="vgg16", content_layers=("block1_conv1",), style_layers=("block1_conv1",)
    )
    assert memory.activation_bytes(config, 8, 10) == 4 * 80 * 64
    # up to block2_conv1: block1 convs (2 x 80 x 64), pool (20 x 64), block2_conv1 (20 x 128)
    config = config.replace(style_layers=("block2_conv1",))
    assert memory.activation_bytes(config, 8, 10) == 4 * (2 * 80 * 64 + 20 * 64 + 20 * 128)


def test_optimizer_bytes_by_hand():
    # 4 x 5 image: n = 60 values; L-BFGS-B m = 2: float64 (2*2 + 5) n and int32 3n
    config = StyleConfig(lbfgs_history=2)
    copies = 8 * memory.FLOAT64_COPIES * 60
    assert memory.optimizer_bytes(config, 4, 5) == 8 * 9 * 60 + 4 * 3 * 60 + copies
    assert memory.optimizer_bytes(config.replace(optimizer="adam"), 4, 5) == 16 * 60 + copies
    # each extra history pair costs 16 bytes per value, 48 per pixel
    longer = memory.estimate_peak_bytes(config.replace(lbfgs_history=12), 512, 512)
    assert longer - memory.estimate_peak_bytes(config, 512, 512) == 10 * 48 * 512 * 512


def test_estimate_grows_with_pixels_and_depth():
    config = StyleConfig()
    small, large = (
        memory.estimate_peak_bytes(config, 256, 256),
        memory.estimate_peak_bytes(config, 512, 512),
    )
    assert memory.BASE_BYTES < small < large
    shallow = config.replace(content_layers=("block1_conv1",), style_layers=("block1_conv1",))
    assert memory.estimate_peak_bytes(shallow, 512, 512) < large


def test_refusal_suggests_a_size_that_fits():
    config = StyleConfig(max_size=2048)
    available = memory.estimate_peak_bytes(config.replace(max_size=700), 700, 700)
    with pytest.raises(memory.ResourceError, match=r"try --max_size=(\d+)") as caught:
        memory.check_fits(config, 2048, 2048, available)
    suggested = int(caught.value.args[0].rsplit("=", 1)[1])
    assert 600 <= suggested <= 700
    memory.check_fits(config, suggested, suggested, available)  # the suggestion does fit
    memory.check_fits(config, 2048, 2048, None)  # unknown memory: no refusal


def test_cli_refuses_before_building_the_model(make_image, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(memory, "available_bytes", lambda: 100 * 2**20)
    output = str(tmp_path / "out.png")
    status = run_in_process(content=make_image("c.png"), style=make_image("s.png", seed=1),
                            output=output, weights="none", max_size=64)  # fmt: skip
    assert status == 2
    error = capsys.readouterr().err
    assert error.startswith("error: a 64x51 run needs about") and "try --max_size=" in error


def test_a_huge_max_size_is_refused_before_anything_is_resized(
    make_image, tmp_path, capsys, monkeypatch
):
    from nst_tf import image_io

    content, style = make_image("c.png", 451, 300), make_image("s.png", seed=1)
    settings = dict(content=content, style=style, output=str(tmp_path / "out.png"),
                    weights="none", max_size=200000)  # fmt: skip
    resized, real_resize = [], image_io.resize_exact
    monkeypatch.setattr(
        image_io, "resize_exact", lambda *args: resized.append(args[1:]) or real_resize(*args)
    )
    assert run_in_process(**settings) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: a 200000x133038 run needs about") and "try --max_size=" in error
    assert resized == []
    assert run_in_process(**{**settings, "max_size": 64, "style_scale": 3000.0}) == 2
    assert "needs about" in capsys.readouterr().err and resized == []


def test_malloc_tunables_only_when_unset_on_glibc_linux(monkeypatch):
    monkeypatch.setattr(memory.platform, "system", lambda: "Linux")
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("glibc", "2.36"))
    assert memory.wants_malloc_tunables({})
    assert not memory.wants_malloc_tunables({"GLIBC_TUNABLES": ""})
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    assert not memory.wants_malloc_tunables({})
    assert "mmap_threshold" in memory.MALLOC_TUNABLES


H100 = memory.GpuMemory("NVIDIA H100 80GB HBM3", 80 * 10**9)


def test_on_an_80_gb_gpu_4096_px_runs_and_8192_px_is_refused_with_a_size_that_fits():
    for optimizer in ("lbfgs", "lbfgs_tf"):
        config = StyleConfig(max_size=4096, optimizer=optimizer)
        memory.check_fits(config, 4096, 4096, None, gpu=H100)
        large = config.replace(max_size=8192)
        with pytest.raises(memory.ResourceError, match=r"GPU memory but the NVIDIA H100") as caught:
            memory.check_fits(large, 8192, 8192, None, gpu=H100)
        assert "74.5 GiB free" in str(caught.value)
        suggested = int(str(caught.value).rsplit("=", 1)[1])
        assert 4096 <= suggested < 8192
        memory.check_fits(large.replace(max_size=suggested), suggested, suggested, None, gpu=H100)


def test_gpu_estimate_by_hand():
    # 16 x 16, VGG16 up to block1_conv1: 256 positions x 64 channels float32; lbfgs_tf with
    # history 2 keeps (2 * 2 + 4) float64 vectors of 768 values on the device
    layer = ("block1_conv1",)
    config = StyleConfig(backbone="vgg16", content_layers=layer, style_layers=layer,
                         optimizer="lbfgs_tf", lbfgs_history=2)  # fmt: skip
    expected = memory.GPU_BASE_BYTES + 4 * 256 * 64 + 8 * 8 * 768
    assert memory.estimate_gpu_bytes(config, 16, 16) == expected


def test_gpu_memory_left_to_this_process_from_nvidia_smi():
    gpus = "NVIDIA H100 80GB HBM3, 81559, GPU-abc\nNVIDIA H100 80GB HBM3, 81559, GPU-def\n"
    apps = "111, GPU-abc, 4000\n222, GPU-abc, 70000\n333, GPU-def, 9000\n"
    found = memory.parse_gpu_memory(gpus, apps, own_pid=222)  # our own 70000 MiB still counts
    assert found == memory.GpuMemory("NVIDIA H100 80GB HBM3", (81559 - 4000) * 2**20)
    assert memory.parse_gpu_memory("", "", 1) is None
    assert memory.parse_gpu_memory("no, numbers, here", "", 1) is None

    def missing(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    assert memory.gpu_memory(run=missing) is None


def test_the_check_uses_the_evaluation_that_will_run(monkeypatch):
    """XLA on the CPU keeps about four times the lean pass's activation memory: with room for
    a lean run only, the same run with --evaluation=autodiff_xla is refused."""
    import numpy as np

    from nst_tf import pipeline

    config = StyleConfig(weights="none", max_size=512)
    lean = memory.estimate_peak_bytes(config, 512, 512, "lean")
    assert memory.estimate_peak_bytes(config, 512, 512, "autodiff_xla") > lean + 2**30
    monkeypatch.setattr(memory, "available_bytes", lambda: lean + 2**20)
    monkeypatch.setattr(pipeline.devices, "gpu_visible", lambda: False)
    square = np.zeros((512, 512, 3), np.uint8)
    pipeline.check_memory(config.replace(evaluation="lean"), square, [square])
    pipeline.check_memory(config, square, [square])  # auto is lean on a CPU
    with pytest.raises(memory.ResourceError, match="try --max_size="):
        pipeline.check_memory(config.replace(evaluation="autodiff_xla"), square, [square])
