"""Entry point: ``hins-run experiment=quickstart`` or ``python -m hins.run experiment=quickstart`` (see hins/conf/ for
every group and key)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from hins.core.cli import CONFIG_PATH, job_started, run_hydra
from hins.core.logging_utils import no_secrets_on_the_command_line

log = logging.getLogger("hins")


@no_secrets_on_the_command_line
@hydra.main(version_base="1.3", config_path=CONFIG_PATH, config_name="config")
def main(cfg: DictConfig) -> float | None:
    job_started()
    from hydra.core.hydra_config import HydraConfig

    from hins.core.artifacts import write_json
    from hins.core.config import ConfigError, check_devices, validate
    from hins.core.logging_utils import JOB_START, loggable_config
    from hins.training.model import ModelLoadError

    try:
        run = validate(cfg)
        check_devices(run)
    except ConfigError as err:
        log.error("%s", err)
        sys.exit(2)
    output_dir = Path(HydraConfig.get().runtime.output_dir)
    log.info("%s %s", JOB_START, output_dir)
    resolved = loggable_config(cfg)
    # A rerun of a multirun into the same sweep directory skips the jobs that already finished with this config.
    done = output_dir / "DONE.json"
    key = job_key(resolved, run)
    if done.is_file():
        record = json.loads(done.read_text())
        if record.get("config_key") == key:
            log.info("job already finished in %s (delete DONE.json to rerun it); skipping", output_dir)
            return record.get("objective")
        log.info("%s holds a finished job of another config; running again", output_dir)
    (output_dir / "resolved_config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(resolved)))
    from hins.core.artifacts import DiskFullError, disk_full, free_bytes, human_bytes
    from hins.core.disk import not_writable
    from hins.core.interrupt import TrainingInterrupted, mark_interrupted, raise_on_sigterm
    from hins.evaluation.locomo import LocomoFormatError
    from hins.stages.personas import PersonaSourceError
    from hins.pipeline import RunContext, run_pipeline
    from hins.core.records import DataError
    from hins.synthesis.llm_client import LLMFatal, LLMUnavailable
    from hins.training.train import OtherRank, finish_wandb

    summary = None
    raise_on_sigterm()
    try:
        summary = run_pipeline(run, RunContext.of(cfg, output_dir))
    except OtherRank:
        return None  # rank 0 writes the results and DONE.json
    except (KeyboardInterrupt, TrainingInterrupted) as err:  # Ctrl-C or SIGTERM: mark the run, say how to resume
        line, code = mark_interrupted(err, output_dir)
        log.warning("%s", line)
        sys.exit(code)
    except (LocomoFormatError, PersonaSourceError, DataError) as err:  # the message names file, record, field, key
        log.error("%s", err)
        sys.exit(2)
    except (LLMFatal, LLMUnavailable) as err:  # the endpoint: key, model, or down; finished calls are cached
        log.error("LLM endpoint: %s", err)
        sys.exit(6)
    except ModelLoadError as err:
        log.error("%s", err)
        sys.exit(3)
    except FloatingPointError as err:  # hins.training.train.TrainingDiverged: NaN or inf loss, with its step and batch
        log.error("training stopped: %s", err)
        sys.exit(4)
    except OSError as err:
        if not_writable(err) and _in_outputs(err.filename, cfg, output_dir):  # made read-only or removed mid-run
            log.error("cannot write %s (%s); what was finished is kept: make it writable and run the same command "
                      "again: finished stages are reused and training resumes from its last checkpoint",
                      err.filename, err.strerror)
            sys.exit(5)
        if not disk_full(err):
            raise
        if isinstance(err, DiskFullError):
            log.error("%s", err.strerror)
        else:  # a checkpoint, the model or a result file: what was finished is kept, and a rerun resumes
            where = err.filename or output_dir
            log.error("no space left on the device while writing %s (%s free there); free some space and run the "
                      "same command again: finished stages are reused and training resumes from its last "
                      "checkpoint", where, human_bytes(free_bytes(where)))
        sys.exit(5)
    finally:
        finish_wandb(summary, run.eval.split)  # after the results are written: they become the W&B run's summary
    # The value a Hydra sweeper would optimise: the trained model's held-out nDCG (None when only data was built).
    objective = summary.get("objective")
    write_json(done, {"config_key": key, "objective": objective})
    return objective


def _in_outputs(filename: str | None, cfg: DictConfig, output_dir: Path) -> bool:
    """Whether ``filename`` lies where the run writes (its directory, the cache, the resume directories)."""
    roots = [output_dir, *(Path(cfg.paths[k]) for k in ("cache_dir", "train_state_dir") if cfg.paths.get(k))]
    return bool(filename) and any(Path(filename).absolute().is_relative_to(r.absolute()) for r in roots)


def job_key(resolved: dict, run: Any) -> str:
    """A finished job's key (DONE.json): its config and its base model's weights by content, so that new weights at
    the same model.path run the job again instead of skipping it as finished."""
    from hins.core.artifacts import config_key
    from hins.pipeline import weights_identity

    return config_key("job", resolved, weights_identity(run))


def entry() -> None:
    """The ``hins-run`` command (a console script of pyproject.toml) and ``python -m hins.run``."""
    run_hydra(main)


if __name__ == "__main__":
    entry()
