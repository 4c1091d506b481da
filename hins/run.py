"""Entry point: ``python -m hins.run +experiment=quickstart`` (see conf/ for every group and key)."""

from __future__ import annotations

import logging
import os
import sys

import hydra
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("hins")


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    from hydra.core.hydra_config import HydraConfig

    from hins.config import ConfigError, validate
    from hins.logging_utils import loggable_config
    from hins.model import ModelLoadError

    try:
        run = validate(cfg)
    except ConfigError as err:
        log.error("%s", err)
        sys.exit(2)
    output_dir = HydraConfig.get().runtime.output_dir
    with open(os.path.join(output_dir, "resolved_config.yaml"), "w") as f:
        f.write(OmegaConf.to_yaml(OmegaConf.create(loggable_config(cfg))))
    from hins.pipeline import run_pipeline

    try:
        summary = run_pipeline(cfg, run, output_dir)
    except ModelLoadError as err:
        log.error("%s", err)
        sys.exit(3)
    # The value a Hydra sweeper would optimise: the trained model's held-out nDCG (None when only data was built).
    return summary.get("objective")

if __name__ == "__main__":
    main()
