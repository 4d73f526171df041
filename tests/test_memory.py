import pytest

from nst_tf import machine, memory
from nst_tf.config import StyleConfig
from tests.conftest import run_in_process


def test_activation_bytes_by_hand():
    # vgg16 up to block1_conv1 on 10x8: one 64-channel map of 80 positions, float32
    config = StyleConfig(backbone="vgg16", content_layers=("block1_conv1",),
                         style_layers=("block1_conv1",), padding="zero")  # fmt: skip
    assert memory.activation_bytes(config, 8, 10) == 4 * 80 * 64
    # up to block2_conv1: block1 convs (2 x 80 x 64), pool (20 x 64), block2_conv1 (20 x 128)
    config = config.replace(style_layers=("block2_conv1",))
    assert memory.activation_bytes(config, 8, 10) == 4 * (2 * 80 * 64 + 20 * 64 + 20 * 128)
    # mirrored 16 px at every border, the network works on 42 x 40: 1680 and 420 positions
    config = config.replace(padding="reflect")
    assert memory.activation_bytes(config, 8, 10) == 4 * (2 * 1680 * 64 + 420 * 64 + 420 * 128)


def test_optimizer_bytes_by_hand():
    # 4 x 5 image: n = 60 values; L-BFGS-B m = 2: float64 (2*2 + 5) n and int32 3n
    config = StyleConfig(lbfgs_history=2)
    copies = 8 * memory.FLOAT64_COPIES * 60
    assert memory.optimizer_bytes(config, 4, 5) == 8 * 9 * 60 + 4 * 3 * 60 + copies
    assert memory.optimizer_bytes(config.replace(optimizer="adam"), 4, 5) == 16 * 60 + copies
    # each extra history pair costs 16 bytes per value, 48 per pixel
    longer = memory.estimate_peak_bytes(config.replace(lbfgs_history=12), 512, 512)
    assert longer - memory.estimate_peak_bytes(config, 512, 512) == 10 * 48 * 512 * 512


def test_a_float32_history_halves_the_pairs_by_hand():
    # lbfgs_tf, m = 4, n = 60: the pairs (2m n) and one more pair on a CPU (the one a step
    # replaces while a checkpoint's snapshot holds the old one)
    config = StyleConfig(optimizer="lbfgs_tf", lbfgs_history=4)
    half = config.replace(lbfgs_history_dtype="float32")
    saved = memory.optimizer_bytes(config, 4, 5) - memory.optimizer_bytes(half, 4, 5)
    assert saved == (2 * 4 + 2) * 60 * 4
    on_device = memory.device_state_bytes(config, 4, 5) - memory.device_state_bytes(half, 4, 5)
    assert on_device == (2 * 4 * 60) * 4
    assert memory.pair_bytes(StyleConfig()) == 8  # SciPy's L-BFGS-B: float64 only


def test_content_targets_by_hand():
    # VGG16 at 4096 x 3072: block3_conv2 is 1024 x 768 positions x 256 channels, float32
    # (805 MB: the print run's map); with two layers both count, each at its stride
    config = StyleConfig(backbone="vgg16", content_layers=("block3_conv2",))
    assert memory.content_target_bytes(config, 3072, 4096) == 4 * 1024 * 768 * 256
    two = config.replace(content_layers=("block1_conv1", "block5_conv2"))
    assert memory.content_target_bytes(two, 30, 40) == 4 * (1200 * 64 + 1 * 2 * 512)  # 30 // 16 = 1
    # counted whole in a block-wise estimate: each block reads its part of the whole map
    shallower = config.replace(content_layers=("block2_conv2",))  # the deepest layer stays
    difference = memory.estimate_peak_bytes(shallower, 3072, 4096, tile=1024) - (
        memory.estimate_peak_bytes(config, 3072, 4096, tile=1024)
    )
    assert difference == 4 * 2048 * 1536 * 128 - 4 * 1024 * 768 * 256


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
        memory.plan(config, 2048, 2048, "lean", available)
    suggested = int(caught.value.args[0].rsplit("=", 1)[1])
    assert 700 <= suggested <= 1200  # in blocks more than 700 px fits, not twice as much
    fitting = memory.plan(config.replace(max_size=suggested), suggested, suggested, "lean",
                          available)  # fmt: skip
    assert fitting.host_bytes <= available
    assert memory.plan(config, 2048, 2048, "lean", None).tile == 0  # unknown memory: whole


def test_cli_refuses_before_building_the_model(make_image, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(machine, "available_bytes", lambda: 100 * 2**20)
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
    monkeypatch.setattr(machine.platform, "system", lambda: "Linux")
    monkeypatch.setattr(machine.platform, "libc_ver", lambda: ("glibc", "2.36"))
    assert machine.wants_malloc_tunables({})
    assert not machine.wants_malloc_tunables({"GLIBC_TUNABLES": ""})
    monkeypatch.setattr(machine.platform, "libc_ver", lambda: ("", ""))
    assert not machine.wants_malloc_tunables({})
    assert "mmap_threshold" in machine.MALLOC_TUNABLES


H100 = machine.GpuMemory("NVIDIA H100 80GB HBM3", 80 * 10**9)


def test_on_an_80_gb_gpu_4096_px_runs_whole_8192_px_in_blocks_and_4_gb_refuses():
    for optimizer in ("lbfgs", "lbfgs_tf"):
        config = StyleConfig(max_size=4096, optimizer=optimizer)
        assert memory.plan(config, 4096, 4096, "lean", None, H100).tile == 0
        large = config.replace(max_size=8192)
        assert memory.plan(large, 8192, 8192, "lean", None, H100).tile >= 1024
        small_gpu = machine.GpuMemory("a small GPU", 4 * 2**30)
        with pytest.raises(memory.ResourceError, match=r"GPU memory but the a small GPU") as caught:
            memory.plan(large, 8192, 8192, "lean", None, small_gpu)
        assert "4.0 GiB free" in str(caught.value)
        suggested = int(str(caught.value).rsplit("=", 1)[1])
        assert 1024 <= suggested < 8192
        memory.plan(large.replace(max_size=suggested), suggested, suggested, "lean", None,
                    small_gpu)  # fmt: skip


def test_gpu_estimate_by_hand():
    # 16 x 16, VGG16 up to block1_conv1: 256 positions x 64 channels float32, and the content
    # target (the same map, once more); lbfgs_tf with history 2 keeps (2 * 2 + 4) float64
    # vectors of 768 values on the device, and with XLA compiling its loop two more copies of
    # the history (2 x 2 x 2 vectors)
    layer = ("block1_conv1",)
    config = StyleConfig(backbone="vgg16", content_layers=layer, style_layers=layer,
                         optimizer="lbfgs_tf", lbfgs_history=2, padding="zero")  # fmt: skip
    activations = memory.GPU_ACTIVATION_FACTORS["lean"] * 4 * 256 * 64
    target = 4 * 256 * 64
    expected = int(memory.GPU_BASE_BYTES + activations + target + 8 * 8 * 768)
    assert memory.estimate_gpu_bytes(config, 16, 16, "lean") == expected
    xla = memory.GPU_BASE_BYTES + 4.0 * 4 * 256 * 64 + target + 8 * (8 + 8) * 768
    assert memory.estimate_gpu_bytes(config, 16, 16, "autodiff_xla") == xla


def test_gpu_memory_left_to_this_process_from_nvidia_smi():
    gpus = "NVIDIA H100 80GB HBM3, 81559, GPU-abc\nNVIDIA H100 80GB HBM3, 81559, GPU-def\n"
    apps = "111, GPU-abc, 4000\n222, GPU-abc, 70000\n333, GPU-def, 9000\n"
    found = machine.parse_gpu_memory(gpus, apps, own_pid=222)  # our own 70000 MiB still counts
    assert found == machine.GpuMemory("NVIDIA H100 80GB HBM3", (81559 - 4000) * 2**20)
    assert machine.parse_gpu_memory("", "", 1) is None
    assert machine.parse_gpu_memory("no, numbers, here", "", 1) is None

    def missing(*args, **kwargs):
        raise FileNotFoundError("nvidia-smi")

    assert machine.gpu_memory(run=missing) is None


def test_the_plan_uses_the_evaluation_that_will_run(monkeypatch):
    """XLA on the CPU keeps about four times the lean pass's activation memory: with room for
    a whole lean run only, the same run with --evaluation=autodiff_xla goes in blocks."""
    import numpy as np

    from nst_tf import inputs

    config = StyleConfig(weights="none", max_size=1024)
    lean = memory.estimate_peak_bytes(config, 1024, 1024, "lean")
    assert memory.estimate_peak_bytes(config, 1024, 1024, "autodiff_xla") > lean + 2**30
    monkeypatch.setattr(machine, "available_bytes", lambda: lean + 2**20)
    monkeypatch.setattr(inputs.devices, "gpu_visible", lambda: False)
    square = np.zeros((1024, 1024, 3), np.uint8)
    assert inputs.plan_memory(config.replace(evaluation="lean"), square, [square]).tile == 0
    assert inputs.plan_memory(config, square, [square]).tile == 0  # auto is lean on a CPU
    xla = inputs.plan_memory(config.replace(evaluation="autodiff_xla"), square, [square])
    assert 0 < xla.tile < 1024 and xla.host_bytes <= lean + 2**20


def test_coarser_scales_larger_than_the_finest_scales_blocks_take_them():
    """VGG19 to block5_conv2 has 96 px margins, so 736 px blocks have 928 x 928 crops (861,184
    px): the 2048 x 1536 scale (3.1 M px) outgrows them and takes the same blocks, even in place
    of larger blocks of its own; 1024 x 768 (786,432 px) stays whole; 848 px blocks (1040 x
    1040 crops, 1.08 M px) leave the 1024 px scale whole too, and so do 688 px blocks (880 x 880
    crops, 774,400 px: 1024 x 768 is 1.6 % more, within the 10 % slack)."""
    from nst_tf import multiscale

    configs = multiscale.scale_configs(StyleConfig(max_size=4096, scales=4))
    sizes = [(384, 512), (768, 1024), (1536, 2048), (3072, 4096)]
    assert memory.block_geometry(configs[0]) == (96, 16)
    carried = multiscale.blocks_for_every_scale
    assert carried(configs, sizes, [0, 0, 0, 736]) == [0, 0, 736, 736]
    assert carried(configs, sizes, [0, 0, 1072, 736]) == [0, 0, 736, 736]
    assert carried(configs, sizes, [0, 0, 0, 848]) == [0, 0, 848, 848]
    assert carried(configs, sizes, [0, 0, 0, 688]) == [0, 0, 688, 688]
    assert carried(configs, sizes, [0, 0, 0, 256]) == [0, 256, 256, 256]
    assert carried(configs, sizes, [0, 0, 0, 0]) == [0, 0, 0, 0]


def test_a_print_run_plans_its_2048_px_scale_in_the_4096_px_scales_blocks(monkeypatch):
    """print.cfg's scales under its --memory_limit: the 2048 px scale alone would fit whole,
    but it runs in the blocks the 4096 px scale needs; the coarsest scale stays whole."""
    import numpy as np

    from nst_tf import inputs, multiscale

    config = StyleConfig(max_size=4096, scales=4, iterations=220, scale_split=(15, 4, 2, 1),
                         memory_limit=10.75, lbfgs_history=3)  # fmt: skip
    monkeypatch.setattr(machine, "available_bytes", lambda: 20 * 2**30)
    monkeypatch.setattr(inputs.devices, "gpu_visible", lambda: False)
    content, style = np.zeros((3, 4, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)
    tiles = inputs.plan_scales(config, content, [style])
    alone = inputs.plan_memory(multiscale.scale_configs(config)[2], content, [style])
    assert alone.tile == 0
    assert 0 < tiles[4096] == tiles[2048] < 2048
    assert tiles[512] == 0
