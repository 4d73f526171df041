"""The layout the code promises (design.md): modules import only their own stage and the ones
before it in the data flow, the command-line side lives in `nst_tf/cli/` and the entry points,
functions and modules stay short, public functions are typed and documented, and importing the
package loads no TensorFlow."""

import ast
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

PACKAGE = os.path.join(REPO, "nst_tf")
# The data flow, first to last; a module may import its own layer and those before it.
LAYERS = [
    # settings, files, pixels, devices, memory, the loss terms
    {"settings", "choices", "config", "resources", "regions", "regions.masks",
     "regions.segmentation", "regions.composite", "image_io", "preprocess", "colors", "devices",
     "precision", "machine", "memory", "losses", "style_losses", "optim.common", "optim.setulb",
     "optim.scipy_lbfgsb", "optim.adam", "optim.pair_history", "optim.average", "optim"},
    {"features", "evaluation.lean_vgg"},  # the feature networks
    {"evaluation", "evaluation.spec", "evaluation.targets", "evaluation.loss_function",
     "evaluation.evaluator", "evaluation.blocks", "evaluation.block_loss",
     "evaluation.block_targets", "evaluation.calibrate", "evaluation.auto",
     "evaluation.guides"},
    # the in-graph optimiser runs the loss
    {"optim.device_average", "optim.device_lbfgsb", "optim.tf_lbfgsb"},
    {"results", "stopping", "workspace", "inputs", "multiscale", "optimization", "pipeline"},
    {""},  # the package itself: the public API
    {"cli", "cli.run_config", "cli.flags", "cli.signals", "cli.startup", "cli.checkpoint",
     "cli.record", "cli.tensorboard", "cli.resume", "cli.reporter", "cli.finish", "cli.job",
     "cli.main", "cli.overrides"},
    {"sweep", "sweep.config", "sweep.grid", "sweep.cells", "sweep.results", "sweep.sheets",
     "sweep.estimate", "sweep.runner", "sweep.ray_runner", "video", "video.config",
     "video.frames", "video.cuts", "video.masks", "video.flow", "video.temporal", "video.loop",
     "video.job", "video.shots", "video.records", "video.revealed"},
    {"run", "sweep.__main__", "video.__main__"},  # thin entry points
]  # fmt: skip
ENTRY_POINTS = {"run", "sweep.__main__", "video.__main__"}


def modules():
    """name (relative to nst_tf, "" for the package) -> path, for every module."""
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                relative = os.path.relpath(path, PACKAGE)[:-3].replace(os.sep, ".")
                found[relative.removesuffix("__init__").rstrip(".")] = path
    return found


def layer_of(name):
    for index, layer in enumerate(LAYERS):
        if name in layer:
            return index
    raise AssertionError(f"nst_tf.{name} has no layer in tests/test_house.py: add it")


def imported_modules(path):
    """The nst_tf modules a file imports (relative names), at any depth of the file."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    known = modules()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from nst_tf.x import y`: the module y if it is one, else nst_tf.x
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}".removeprefix("nst_tf.") in known
                else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name == "nst_tf" or name.startswith("nst_tf."):
                relative = name.removeprefix("nst_tf").lstrip(".")
                if relative in known:
                    yield relative, node.lineno


def test_no_module_imports_one_later_in_the_data_flow():
    wrong = []
    for name, path in modules().items():
        for imported, line in imported_modules(path):
            if layer_of(imported) > layer_of(name):
                wrong.append(f"nst_tf.{name}:{line} imports nst_tf.{imported}")
    assert not wrong, "\n".join(wrong)


def test_only_the_cli_and_entry_points_touch_flags_or_print():
    wrong = []
    for name, path in modules().items():
        if name.startswith("cli") or name in ENTRY_POINTS:
            continue
        source = open(path, encoding="utf-8").read()
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print":
                wrong.append(f"nst_tf.{name}:{node.lineno} prints")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                if any(n == "absl" or n.startswith("absl.") for n in names):
                    wrong.append(f"nst_tf.{name}:{node.lineno} imports absl")
    assert not wrong, "\n".join(wrong)


def functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


def test_functions_are_short_and_modules_small():
    long_functions, long_modules = [], []
    for name, path in modules().items():
        source = open(path, encoding="utf-8").read()
        if source.count("\n") > 300:
            long_modules.append(f"nst_tf.{name}: {source.count(chr(10))} lines")
        for node in functions(ast.parse(source)):
            length = node.end_lineno - node.lineno + 1
            if length > 60:
                long_functions.append(f"nst_tf.{name}.{node.name}: {length} lines")
    assert not long_functions, "\n".join(long_functions)
    assert not long_modules, "\n".join(long_modules)


def public_functions(tree):
    """Module-level functions and methods of module-level classes not starting with _."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            yield node.name, node
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.name.startswith("_"):
                    yield f"{node.name}.{item.name}", item


def test_public_functions_have_complete_type_hints_and_docstrings():
    missing = []
    for name, path in modules().items():
        if name in ENTRY_POINTS:
            continue
        for function_name, node in public_functions(ast.parse(open(path).read())):
            arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
            untyped = [
                a.arg for a in arguments if a.annotation is None and a.arg not in ("self", "cls")
            ]
            where = f"nst_tf.{name}.{function_name}"
            if untyped:
                missing.append(f"{where}: no type for {', '.join(untyped)}")
            if node.returns is None:
                missing.append(f"{where}: no return type")
            if ast.get_docstring(node) is None:
                missing.append(f"{where}: no docstring")
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    "module", ["nst_tf", "nst_tf.run", "nst_tf.sweep", "nst_tf.cli.main", "nst_tf.video.__main__"]
)
def test_importing_loads_no_tensorflow(module):
    code = f"import sys, {module}; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, env=dict(os.environ, PYTHONPATH=REPO))  # fmt: skip
    assert result.stdout.strip() == "False", result.stderr


def test_the_run_record_module_needs_no_tensorflow():
    tree = ast.parse(open(os.path.join(PACKAGE, "cli", "record.py")).read())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert not {name for name in imported if name and name.split(".")[0] in ("tensorflow", "keras")}


def test_every_subpackage_is_in_the_wheel():
    """pyproject.toml lists the packages by hand: a new subpackage left out would install a
    command that fails on import (the wheel test is in the slow run only)."""
    import tomllib

    with open(os.path.join(os.path.dirname(PACKAGE), "pyproject.toml"), "rb") as handle:
        listed = set(tomllib.load(handle)["tool"]["setuptools"]["packages"])
    relative = [os.path.relpath(folder, PACKAGE) for folder, _, files in os.walk(PACKAGE)
                if "__init__.py" in files]  # fmt: skip
    found = {"nst_tf" if rel == "." else "nst_tf." + rel.replace(os.sep, ".") for rel in relative}
    assert found <= listed, sorted(found - listed)
