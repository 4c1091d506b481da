"""Running a ``hydra.main`` app so that a config Hydra cannot compose stops like any other bad value: one line
naming it, exit 2.

Hydra reports an unknown option (``negatives=hisn``), an unknown experiment (``+experiment=nope``), a key that
is not there (``negatives.kk=3``) or an override it cannot parse with its config search path and exit code 1,
from inside ``hydra._internal.utils.run_and_report``, which every command (run, multirun, --cfg, shell
completion) goes through; ``run_app`` catches those errors there, before Hydra's report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from hydra.errors import ConfigCompositionException, OverrideParseException

# MissingConfigException (an unknown option or experiment) is a ConfigCompositionException.
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


def _exit_2_on_composition_error(func: Callable[[], Any]) -> Any:
    try:
        return func()
    except COMPOSITION_ERRORS as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"invalid config: {composition_error(err)}", file=sys.stderr)
        sys.exit(2)


def run_app(app: Callable[[], Any]) -> None:
    """Call a ``hydra.main``-decorated function as its command line's entry point (--help, -m and tab
    completion unchanged)."""
    import hydra._internal.utils as hydra_utils

    report = hydra_utils.run_and_report
    hydra_utils.run_and_report = lambda func: report(lambda: _exit_2_on_composition_error(func))
    try:
        _exit_2_on_composition_error(app)  # --help and --info compose outside run_and_report
    finally:
        hydra_utils.run_and_report = report
