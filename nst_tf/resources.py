"""The files shipped with nst_tf: the presets (`configs/*.cfg`) and the sample images
(`images/`), found from any working directory.

In a checkout they are the repository's `configs/` and `images/` folders; an installed wheel
carries the same files as package data in `nst_tf/configs/` and `nst_tf/images/` (see
pyproject.toml). A relative path such as `configs/offline.cfg` or `images/tubingen.jpg` that
does not exist in the working directory is looked up there, so the command line and the
notebook run the same installed as in a checkout.
"""

from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# An installed wheel holds the data inside the package; a checkout one folder up.
DATA_ROOTS = (_PACKAGE, os.path.dirname(_PACKAGE))
SHIPPED_FOLDERS = ("configs", "images")


def shipped_path(relative: str) -> str | None:
    """The shipped file `relative` names (e.g. "configs/default.cfg", "images/tubingen.jpg"),
    as an absolute path, or None when nst_tf ships no such file."""
    parts = os.path.normpath(relative).split(os.sep)
    if os.path.isabs(relative) or parts[0] not in SHIPPED_FOLDERS or ".." in parts:
        return None
    for root in DATA_ROOTS:
        candidate = os.path.join(root, *parts)
        if os.path.isfile(candidate):
            return candidate
    return None


def resolve(path: str) -> str:
    """`path` itself when it exists (or is not a shipped file's name), else the shipped file
    of that name: the working directory always wins."""
    if os.path.exists(path):
        return path
    return shipped_path(path) or path


def sample_image(name: str) -> str:
    """The absolute path of a shipped sample image, e.g. `sample_image("tubingen.jpg")`;
    ValueError listing the samples for an unknown name."""
    path = shipped_path(os.path.join("images", name))
    if path is None:
        raise ValueError(f"no sample image {name!r}; the samples are {', '.join(sample_images())}")
    return path


def sample_images() -> list[str]:
    """The names of the shipped sample images."""
    for root in DATA_ROOTS:
        folder = os.path.join(root, "images")
        if os.path.isdir(folder):
            return sorted(n for n in os.listdir(folder) if n.endswith((".jpg", ".png")))
    return []
