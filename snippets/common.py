"""Helpers shared by the scripts in `snippets/`: paths, rounding, files, checks.

One place for what the figure scripts, the experiment kit and the benchmarks
all need, so that a fix is made once. Import it as `from snippets import common`.
"""

import argparse
import csv
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]  # the repository
DATA = ROOT / "docs" / "assets" / "data"  # benchmark reports, measured data
EXPERIMENTS = DATA / "experiments"  # what snippets/experiments/run_all.py writes


def r6(x: float) -> float:
    """`x` rounded to 6 significant digits, so the CSVs stay readable and stable."""
    return float(f"{float(x):.6g}")


def check_positive_int(name: str, value: int) -> int:
    """Return `value` if it is a positive int; raise `ValueError` otherwise.

    `bool` is rejected although it is a subclass of `int`: `True` is not a
    count.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def argument_parser(description: str) -> argparse.ArgumentParser:
    """The parser every script starts from: its docstring as the help text, and
    no abbreviated options (so a mistyped `--sav` is an error, not `--save`)."""
    return argparse.ArgumentParser(
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )


def positive_int(text: str) -> int:
    """An argparse `type=` for counts: a positive integer, else a usage error."""
    try:
        return check_positive_int("the value", int(text))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer, got {text!r}"
        ) from err


def positive_float(text: str) -> float:
    """An argparse `type=` for durations: a positive number, else a usage error."""
    try:
        value = float(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from err
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def replace_file(path: Path, write: Callable[[Path], object]) -> Path:
    """Call `write(tmp)` on a temporary file beside `path`, then move it into place.

    The file at `path` is only replaced once `write` has succeeded, so a
    failing run never leaves a committed file half written or deleted.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_text(path: Path, text: str) -> Path:
    """Write `text` to `path` (temporary file, then replace)."""
    return replace_file(path, lambda tmp: tmp.write_text(text))


def write_csv(path: Path, rows: list[dict]) -> Path:
    """Write `rows` (dicts with the same keys) as a CSV with `\\n` line ends."""

    def write(tmp: Path) -> None:
        with tmp.open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)

    if not rows:
        raise ValueError(f"no rows to write to {path.name}")
    return replace_file(path, write)


def read_csv(path: Path) -> list[dict]:
    """The rows of a CSV file as dicts of strings."""
    with path.open(newline="") as f:
        return list(csv.DictReader(f))
