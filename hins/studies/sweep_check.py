"""A Hydra callback that checks every job of a multirun with ``hins.core.config.validate`` before the first one runs.

Hydra composes all the jobs up front, but the schema (ratios that sum to 1, known tiers, K >= 1, ...) is checked
by each job when it starts: a typo in the tenth value of a study sweep would stop the sweep an hour in. Here the
whole sweep is refused at once, every bad job named. The jobs are those of Hydra's basic sweeper: the sweep's
``hydra.sweeper.params`` and the command line's overrides, expanded the same way.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("hins")


def sweep_jobs(config: DictConfig) -> list[list[str]]:
    """Every job's overrides, as the basic sweeper expands them."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    # Unresolved: an override is text for the parser ("name=${x}" holds an interpolation for the job, not for here).
    hydra = OmegaConf.to_container(config.hydra, resolve=False)
    params = [f"{k}={v}" for k, v in (hydra["sweeper"].get("params") or {}).items()]
    parsed = OverridesParser.create().parse_overrides([*params, *hydra["overrides"]["task"]])
    return [list(job) for batch in BasicSweeper.split_arguments(parsed, None) for job in batch]


class SweepCheck(Callback):
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        from hydra import compose
        from hydra.core.hydra_config import HydraConfig

        from hins.core.cli import command_line_error
        from hins.core.config import ConfigError, validate

        hydra_config = HydraConfig.instance()
        previous = hydra_config.cfg
        jobs, problems = sweep_jobs(config), []
        try:
            for overrides in jobs:
                try:
                    cfg = compose(config_name=config.hydra.job.config_name, overrides=overrides,
                                  return_hydra_config=True)
                    hydra_config.set_config(cfg)  # a job's paths resolve against its own hydra node
                except Exception as err:  # noqa: BLE001 - Hydra's and OmegaConf's own, or a raw one from inside them
                    problems.append(f"job {' '.join(overrides)}:\n{command_line_error(err, overrides)}")
                    continue
                try:
                    validate(cfg)
                except ConfigError as err:
                    problems.append(f"job {' '.join(overrides)}:\n{err}")
        finally:
            if previous is not None:
                hydra_config.set_config(previous)  # type: ignore[arg-type]
        if problems:  # Hydra turns a callback's exception into a warning and runs the sweep: exit as hins.run does
            log.error("%d of the sweep's %d jobs have an invalid config; nothing was run:\n%s", len(problems),
                      len(jobs), "\n".join(problems))
            sys.exit(2)
