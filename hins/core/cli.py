"""What the command-line entry points share, so that a bad argument stops them before any work.

- argparse types (:func:`positive_int`, :func:`output_file`): argparse names the option and exits 2;
- :func:`run_hydra` runs a ``@hydra.main`` entry point so that a command line Hydra cannot parse or compose exits
  2 with one line (Hydra's own code for it is 1, a crash's, and some of its errors come as a traceback).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hydra.errors import ConfigCompositionException, OverrideParseException

from hins.core.logging_utils import SECRET, scrub


def positive_int(text: str) -> int:
    """A whole number >= 1 (a batch size: 0 or less would encode nothing)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _writable_place(text: str, directory: Path) -> None:
    """``directory`` (where the output goes), or the nearest directory above it that exists, can be written into:
    the command makes the directories in between."""
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: {existing} is not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: no permission to write in {existing}")


def output_dir(text: str) -> Path:
    """A directory the command can write its files into: existing, or one it can make."""
    path = Path(text)
    _writable_place(text, path)
    return path


def output_file(text: str) -> Path:
    """A file the command can write when it is done: not a directory, in a directory that exists or can be made.
    Checked when the arguments are read, so a bad path does not cost the whole run's results."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a directory; give a file path, e.g. {path / 'results.json'}")
    _writable_place(text, path.parent)
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"cannot write {text!r}: permission denied")
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file renamed into place: a reader never sees half a file,
    and a failed write leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------ Hydra


# The Hydra configs ship inside the package (hins/conf): found by import, from any working directory and in an
# installed wheel, wherever the module naming them lives.
CONFIG_PATH = "pkg://hins.conf"

_job_started = False

# Hydra's errors for a config it cannot compose (MissingConfigException, an unknown option or experiment, is a
# ConfigCompositionException): one line, options inline.
# (an unknown option or experiment) is a ConfigCompositionException.
COMPOSITION_ERRORS = (ConfigCompositionException, OverrideParseException)


def composition_error(err: BaseException) -> str:
    """Hydra's message in one line: without the config search path, the available options inline, and the first
    line of its cause (OmegaConf's ``Key 'kk' is not in struct``)."""
    text = str(err).split("Config search path:")[0]
    head, _, options = text.partition("Available options in ")
    line = " ".join(head.split())
    if options:
        group, _, names = options.partition(":")
        line += f" (options in {group}: {', '.join(names.split())})"
    if isinstance(err, OverrideParseException) and err.override not in line:
        line = f"override {err.override!r}: {line}"
    if err.__cause__ is not None and str(err.__cause__).strip():
        line += f" ({str(err.__cause__).strip().splitlines()[0]})"
    return line



def experiment_as_default(args: list[str]) -> list[str]:
    """``args`` with ``+experiment=<name>`` read as ``experiment=<name>``. The configs list ``experiment: null`` in
    their defaults so that ``experiment=<name>`` selects one; Hydra refuses to add (``+``) a group already listed
    there, and the ``+`` form is in older commands, notes and users' habits. Both compose the same config."""
    return [arg[1:] if arg.startswith("+experiment=") else arg for arg in args]


def job_started() -> None:
    """Called first by a Hydra task function: an exception from here on is hins' own (a traceback, exit 1), not
    the command line's."""
    global _job_started
    _job_started = True


def _redacted(text: str, argv: list[str]) -> str:
    """``text`` without the values of secret-looking overrides (``+llm.api_key=...``), which Hydra's messages quote."""
    for arg in argv:
        key, eq, value = arg.partition("=")
        if eq and value and SECRET.fullmatch(re.split(r"[./]", key.lstrip("+~"))[-1]):
            text = text.replace(value, "<redacted>")
    return scrub(text)


def command_line_error(err: BaseException, argv: list[str]) -> str:
    """One message for an error Hydra met reading the command line: its own text (without the config search path),
    or the exception and its root cause."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(err, COMPOSITION_ERRORS):
        return _redacted(f"invalid config: {composition_error(err)}", argv)
    text = str(err).split("\nConfig search path:")[0].strip()
    if not isinstance(err, HydraException):  # Hydra's own messages quote the override; these do not
        text = f"{type(err).__name__}: {text} (reading the command line {' '.join(argv)!r})"
    cause = err.__cause__ or err.__context__
    while cause is not None and (cause.__cause__ or cause.__context__) is not None:
        cause = cause.__cause__ or cause.__context__
    # The OmegaConf error under "Could not override 'a'" (as Hydra prints it), the OSError under a raw ValueError
    # from logging; not the parser's error under Hydra's message that already says it.
    if cause is not None and (isinstance(cause, OmegaConfBaseException) or not isinstance(err, HydraException)):
        text += f"\n({type(cause).__name__}: {cause})"
    return _redacted(text, argv)


def run_hydra(main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` entry point whose task calls :func:`job_started` first.

    An error before the job starts is the command line's (an override Hydra cannot parse, a group option or key
    that does not exist, a run directory that cannot be made): one message and exit 2, as for a bad value hins'
    own checks find. After it, an exception is a bug and stays a traceback. HYDRA_FULL_ERROR=1 is set for the call,
    so that Hydra raises instead of printing and exiting 1; a user who set it gets the traceback of both kinds.
    ``+experiment=<name>`` is read as ``experiment=<name>`` (:func:`experiment_as_default`)."""
    global _job_started
    _job_started = False
    sys.argv[1:] = experiment_as_default(sys.argv[1:])
    asked = os.environ.get("HYDRA_FULL_ERROR")
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except Exception as err:
        if _job_started:
            raise
        if asked == "1":
            import traceback

            traceback.print_exc()
        print(f"error: {command_line_error(err, sys.argv[1:])}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        if asked is None:
            os.environ.pop("HYDRA_FULL_ERROR", None)
        else:
            os.environ["HYDRA_FULL_ERROR"] = asked
