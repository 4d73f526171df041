"""What the settings dataclasses share: a field with its flag's help, and the checks that
raise ValueError naming the flag (`--name message`)."""

from __future__ import annotations

import math
from dataclasses import Field, field


def setting(default: object, help_text: str) -> Field:
    """A dataclass field with its default and its help (the flag's)."""
    return field(default=default, metadata={"help": help_text})


def check_weights_list(weights: tuple, expected: int | None, flag: str, per: str) -> None:
    """ValueError unless `weights` is empty or holds `expected` positive finite numbers
    (`expected` None: any number; the count is checked where it is known)."""
    if weights:
        require(
            expected is None or len(weights) == expected,
            flag,
            f"needs {expected} values, one per {per}",
        )
        require(all(positive(w) for w in weights), flag, "must all be positive finite numbers")


def normalized(weights: tuple[float, ...]) -> tuple[float, ...]:
    """`weights` divided by their sum."""
    total = sum(weights)
    return tuple(weight / total for weight in weights)


def positive(value: float) -> bool:
    """Whether `value` is a positive finite number."""
    return math.isfinite(value) and value > 0


def require(condition: bool, flag: str, message: str) -> None:
    """ValueError `--flag message` unless `condition`."""
    if not condition:
        raise ValueError(f"--{flag} {message}".rstrip())
