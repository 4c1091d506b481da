"""``python -m hins.calibrate``: the tier mix a base model's own top distractors have (stage ``calibration``,
hins.stages.calibration), measured as a standalone tool.

LoCoMo by default; any data/topics/queries/model group composes as in hins.run. It reads the training split of
the run its config describes (a LoCoMo fold given by ``data.fold=<i>``, or synthetic data's split), or with
LoCoMo's ``data.fold=all`` every conversation, which describes the data but holds every fold's test conversations;
the report names the conversations it read. ``negatives.ratios=calibrated`` measures the same per run, on each
fold's training split.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Literal

import hydra
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from hins.core.cli import CONFIG_PATH, job_started, run_hydra
from hins.core.logging_utils import no_secrets_on_the_command_line
from hins.core.records import DataError
from hins.stages.calibration import CLASSES, TIERS

log = logging.getLogger(__name__)


def report(result: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [f"# Ratio calibration: {meta['data']} under {meta['model']}", "",
             f"Conversations read: {meta['conversation_set']}: {', '.join(result['conversations'])}.", "",
             f"{result['questions']} training queries, top {meta['top_n']} non-evidence messages each over a pool of "
             f"{meta['pool']} ({result['distractors']} distractors). Shares in %, 95% bootstrap interval "
             "over queries.", "", "| class | share of all distractors | share among the three tiers |",
             "|---|---|---|"]
    for c in CLASSES:
        a = result["all"][c]
        t = result["tiers"].get(c)
        tier = f"{100 * t['share']:.1f} [{100 * t['ci_low']:.1f}, {100 * t['ci_high']:.1f}]" if t else "— (no tier)"
        lines.append(f"| {c} | {100 * a['share']:.1f} [{100 * a['ci_low']:.1f}, {100 * a['ci_high']:.1f}] | {tier} |")
    if result.get("by_kind"):
        lines += ["", "| question kind | n | hard / medium / easy among tiers (%) | target_topic of all (%) |",
                  "|---|---|---|---|"]
        for kind, r in result["by_kind"].items():
            lines.append(f"| {kind} | {r['questions']} | "
                         + " / ".join(f"{100 * r['tiers'][t]['share']:.1f}" for t in TIERS)
                         + f" | {100 * r['all']['target_topic']['share']:.1f} |")
    lines += ["", f"Calibrated ratio: `negatives.ratios={result['ratio']}`"]
    return "\n".join(lines) + "\n"


def _measure_run(run: Any, cache_dir: str | Path, out: Path, embedder: Any, top_n: int, pool: str, n_boot: int
                 ) -> tuple[dict[str, Any], str]:
    """The tool's measurement: the training queries of the conversations a run of this config trains on (every
    conversation when the run covers every fold, LoCoMo's data.fold=all), and a description of that set."""
    from hins.pipeline import Pipeline
    from hins.stages.calibration import CalibrationSettings, CalibrationStage
    from hins.stages.sources import source_for

    folds = source_for(run).folds()
    scope = "all" if len(folds) > 1 else "train"
    fold = None if scope == "all" else folds[0]
    pipe = Pipeline(run, out, cache_dir, embedder, fold)
    for stage in pipe.stages[:3]:  # the source, topics and queries
        pipe.runner.run(stage)
    stage = CalibrationStage(CalibrationSettings.of(run, fold=fold, scope=scope, pool=pool, bootstrap=n_boot,
                                                    negatives={"k": top_n, "group_size": run.negatives.group_size}))
    cids = stage.conversations(list(pipe.runner.built["conversations"].value.conversations))
    if scope == "all":
        used = (f"all {len(cids)} conversations (data.fold=all: every fold's test conversations included, so this "
                "describes the data and is no ratio to train a fold with; data.fold=<i> reads fold i's training split)")
    elif fold is not None:
        used = f"the {len(cids)} training conversations of fold {fold} of {stage.settings.data.folds}"
    else:
        used = f"the {len(cids)} training conversations of the split of seed {run.seed}"
    log.info("calibrate: ranking the training queries over %s", used)
    return pipe.runner.run(stage), used


class CalibrateParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    top_n: int = Field(ge=1)
    pool: Literal["group", "all"]
    bootstrap: int = Field(ge=100)


def calibrate_params(cfg: DictConfig) -> CalibrateParams:
    """The ``calibrate`` section, checked; raises ConfigError naming the key."""
    from hins.core.config import ConfigError, _format

    try:
        node = cfg.get("calibrate")
        return CalibrateParams.model_validate(OmegaConf.to_container(node, resolve=True)
                                              if OmegaConf.is_config(node) else node)
    except ValidationError as err:
        raise ConfigError(_format(err, "calibrate")) from None
    except OmegaConfBaseException as err:  # an interpolation that does not resolve
        raise ConfigError(f"invalid config: calibrate: {str(err).splitlines()[0]}") from None


@no_secrets_on_the_command_line
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="calibrate")
def main(cfg: DictConfig) -> str | None:
    job_started()
    from hydra.core.hydra_config import HydraConfig

    from hins.core.artifacts import write_json
    from hins.core.config import ConfigError, validate
    from hins.training.model import ModelLoadError
    from hins.pipeline import load_model

    try:
        run = validate(cfg, extra=("calibrate",))
        params = calibrate_params(cfg)
        embedder = load_model(run)
    except (ConfigError, ModelLoadError) as err:
        log.error("%s", err)
        sys.exit(2)
    out = Path(HydraConfig.get().runtime.output_dir)
    try:
        result, used = _measure_run(run, cfg.paths.cache_dir, out, embedder, params.top_n, params.pool,
                                    params.bootstrap)
    except DataError as err:
        log.error("%s", err)
        sys.exit(2)
    meta = {"data": run.data.source, "model": run.model.name, "top_n": params.top_n, "conversation_set": used,
            "pool": "every conversation read" if params.pool == "all"
            else f"its processing group of {run.negatives.group_size} conversations"}
    write_json(out / "calibration.json", {**meta, **result})
    text = report(result, meta)
    (out / "calibration.md").write_text(text)
    print(f"\n{text}\nWritten to {out}")
    return result["ratio"]


def entry() -> None:
    """The ``hins-calibrate`` command (a console script of pyproject.toml) and ``python -m hins.calibrate``."""
    run_hydra(main)


if __name__ == "__main__":
    entry()
