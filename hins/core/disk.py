"""How much disk a run's artifacts will take, said before any work starts.

The figures are rough (from the config and the model's size, with per-item sizes measured on the smoke and
LoCoMo runs): enough to see that a 201k-sample run wants gigabytes, not to budget to the megabyte. Stages
already in the cache cost nothing more; the estimate does not look.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from hins.core.artifacts import free_bytes, human_bytes

log = logging.getLogger(__name__)

PASSAGE_BYTES = 250  # one passage of a sample: the datasets copy, the JSONL export and its ids
VECTOR_BYTES = 4  # float32 untuned test vectors
CHECKPOINT_COPIES = 3  # weights + AdamW's two moments
TOKENIZER_BYTES = 1_000_000


def estimate(run: Any, n_params: int | None, hidden: int | None) -> dict[str, int]:
    """Bytes per part of the run: conversations, negatives (samples), the base model's vectors, checkpoints, model."""
    from hins.stages.sources import source_for

    source = source_for(run)
    size, folds = source.size(), len(source.folds())
    group = 1 + run.negatives.k
    out = {"conversations": size.conversations_bytes,
           "negatives": folds * size.samples * (group * PASSAGE_BYTES + 200)}
    if run.stop_after != "data" and n_params:
        out["base_vectors"] = size.messages * (hidden or 384) * VECTOR_BYTES
        # best + last checkpoint while training (fp32 weights and AdamW moments), per fold
        out["checkpoints"] = folds * 2 * CHECKPOINT_COPIES * 4 * n_params
        out["model"] = folds * (4 * n_params + TOKENIZER_BYTES)
    return out


def log_estimate(run: Any, cache_dir: str | os.PathLike, output_dir: str | os.PathLike,
                 model: Any = None) -> dict[str, int]:
    """Log the estimate and the free space; warn when the disk looks too small for it."""
    n_params = sum(p.numel() for p in model.parameters()) if model is not None else None
    hidden = getattr(model, "dim", None) if model is not None else None
    parts = estimate(run, n_params, hidden)
    total = sum(parts.values())
    free = free_bytes(cache_dir)
    detail = ", ".join(f"{k} {human_bytes(v)}" for k, v in parts.items())
    log.info("disk: this run writes roughly %s (%s) under %s and %s; %s free", human_bytes(total), detail,
             cache_dir, output_dir, human_bytes(free))
    if free is not None and free < total:
        log.warning("disk: only %s free at %s, the run may need ~%s: free space or set HINS_CACHE / HINS_ROOT to a "
                    "larger disk", human_bytes(free), Path(cache_dir), human_bytes(total))
    return parts


# Where a run writes, and the environment variable that also moves it: checked before any work (WritableOutputs).
OUTPUTS = {"hydra.run.dir": "HINS_ROOT", "hydra.sweep.dir": "HINS_ROOT", "paths.cache_dir": "HINS_CACHE",
           "paths.train_state_dir": "HINS_ROOT"}
# What a directory that cannot be written raises: no such directory, not a directory, no permission, read-only.
_UNWRITABLE = {errno.ENOENT, errno.ENOTDIR, errno.EACCES, errno.EPERM, errno.EROFS}


class NotWritableError(OSError):
    """A directory the run writes to cannot be written; the message names it and the setting that moves it."""


def not_writable(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in _UNWRITABLE


def check_writable(path: str | os.PathLike, setting: str) -> None:
    """Raise NotWritableError unless ``path`` can be created or written: its nearest existing ancestor must be a
    directory this process can add an entry to (tried, as root too, by making and removing a temporary
    directory there). Nothing is left behind."""
    target = Path(path).absolute()
    probe = target
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        tempfile.TemporaryDirectory(dir=probe, prefix=".hins-write-check-").cleanup()
    except OSError as err:
        if not not_writable(err):
            raise
        raise NotWritableError(err.errno, f"cannot write to {target}: {probe}: {err.strerror}; point {setting} at "
                                          "a writable directory", str(target)) from None


class WritableOutputs(Callback):
    """Refuse a run, or a whole multirun, whose run, sweep, cache or resume directory cannot be written, before
    Hydra creates the run directory and before any stage is built: exit 5 (as for a full disk), one line."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.run.dir")

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._check(config, "hydra.sweep.dir")

    @staticmethod
    def _check(config: DictConfig, run_dir: str) -> None:
        from hydra.core.hydra_config import HydraConfig

        HydraConfig.instance().set_config(config)  # paths resolve through ${hydra:runtime.cwd}
        try:
            trains = OmegaConf.select(config, "stop_after") != "data" and OmegaConf.select(config, "trainer.resume")
            for key in (run_dir, "paths.cache_dir", *(["paths.train_state_dir"] if trains else [])):
                path = OmegaConf.select(config, key)
                if path is not None:
                    check_writable(path, f"{key} (or {OUTPUTS[key]})")
        except NotWritableError as err:  # logging is not set up yet: Hydra does it in the run directory
            print(f"error: {err.strerror}", file=sys.stderr)
            sys.exit(5)
