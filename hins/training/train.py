"""Contrastive fine-tuning with PyTorch Lightning.

Each training sample is (query, positive, K negatives); the loss sees the sample's own 1+K passages
unless in-batch negatives are switched on. AdamW, linear warmup then linear decay; the checkpoint
with the best validation nDCG@k is the one kept.

Resuming (``trainer.resume``, on by default): a run keeps its checkpoints in a directory keyed by its
config (``paths.train_state_dir``) and saves ``last.ckpt`` there at every validation, with the random
number generators' state; the same command run again after a kill continues from it, skipping the
batches already trained on, to the same final weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Sampler

from hins.core.config import TrainerConfig
from hins.core.interrupt import TrainingInterrupted
from hins.training.model import Embedder
from hins.training.packed import PackedTexts, packing_unsupported

log = logging.getLogger(__name__)


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite; the message names the step, the batch and its samples."""


class OtherRank(SystemExit):
    """A DDP process other than rank 0 has finished training: rank 0 evaluates and writes the results. Uncaught, it
    ends a process Lightning started by running the command again (exit 0); ``hins.run`` returns instead, so a process
    a cluster launcher started for the rank (Slurm through submitit: one task per device) ends its job normally."""


# Texts whose token ids a collator keeps (per kind and loader worker, ~0.3 KB each); past it the memo starts over.
TOKEN_MEMO_TEXTS = 200_000


class SampleCollator:
    """Tokenise a batch of samples: queries, then every sample's positive and negatives in order; either packed
    into one unpadded token stream (``packing``) or as padded queries and length-sorted passage chunks.

    A sample whose tiers ran dry holds fewer negatives than the others: only its real passages are encoded, and
    ``mask`` ([B, 1+K], None when no sample is short) says which of its slots they fill (the loss masks the rest).

    Packed batches tokenise each distinct text once: every message is a negative of many samples and every
    query has a sample per evidence message, so a step's 17 x batch texts are mostly ids already seen (at batch
    512 tokenising them anew costs a loader worker about as long as a GPU step takes)."""

    def __init__(self, embedder: Embedder, chunk: int, packing: bool = False):
        self.embedder = embedder
        self.chunk = chunk
        self.packing = packing
        self._memo: dict[str, dict[str, list[int]]] = {"query": {}, "passage": {}}

    def token_ids(self, texts: list[str], kind: str) -> list[list[int]]:
        memo = self._memo[kind]
        if len(memo) > TOKEN_MEMO_TEXTS:
            memo.clear()
        new = [t for t in dict.fromkeys(texts) if t not in memo]
        if new:
            memo.update(zip(new, self.embedder.token_ids(new, kind)))
        return [memo[t] for t in texts]

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        passages = [p for r in rows for p in [r["pos"], *r["neg"]]]
        sizes = [1 + len(r["neg"]) for r in rows]
        group = max(sizes)
        mask = torch.arange(group)[None, :] < torch.tensor(sizes)[:, None] if min(sizes) < group else None
        qids = [r["qid"] for r in rows]
        index = {q: i for i, q in enumerate(dict.fromkeys(qids))}
        queries = [r["query"] for r in rows]
        if self.packing:
            ids = self.token_ids(queries, "query") + self.token_ids(passages, "passage")
            texts: dict[str, Any] = {"packed": PackedTexts.from_ids(ids)}
        else:
            texts = {"query": self.embedder.tokenize(queries, "query"),
                     "passages": self.embedder.tokenize_by_length(passages, "passage", self.chunk)}
        return {**texts, "group": group, "mask": mask, "query_group": torch.tensor([index[q] for q in qids]),
                "sid": [r["sid"] for r in rows]}


def linear_warmup_decay(total_steps: int, warmup_steps: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / (warmup_steps + 1)
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


class ContrastiveModule(pl.LightningModule):
    def __init__(self, embedder: Embedder, loss: torch.nn.Module, trainer_cfg: TrainerConfig,
                 validate: Callable[[Embedder], dict[str, float]] | None = None):
        super().__init__()
        self.embedder = embedder
        self.loss_fn = loss
        self.cfg = trainer_cfg
        self.validate_fn = validate
        self.train_mode_seen: list[bool] = []  # whether the encoder really trained in train mode (dropout on)
        self._unchecked: list[tuple[int, int, int, list[str], torch.Tensor]] = []  # losses not yet checked

    def on_train_start(self) -> None:
        # transformers 5 returns models in eval mode; make sure dropout is on when training starts.
        self.embedder.train()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.train_mode_seen.append(self.embedder.backbone.training)
        n = batch["query_group"].shape[0]
        if "packed" in batch:
            texts = self.embedder.forward_packed(batch["packed"])
            q, p = texts[:n], texts[n:]
        else:
            q, p = self.embedder(batch["query"]), self.embedder.forward_chunks(*batch["passages"])
        mask = batch["mask"]
        if mask is None:
            p = p.view(n, batch["group"], -1)
        else:  # the real passages into their slots (row-major, as collated); the empty ones stay zero, masked
            p = p.new_zeros(n, batch["group"], p.shape[-1]).masked_scatter(mask[..., None], p)
        loss = self.loss_fn(q, p, batch["query_group"], mask)
        # Checked every log_every_n_steps steps (check_finite), not here: no extra host sync per step.
        self._unchecked.append((self.global_step, batch_idx, self.current_epoch, batch["sid"][:4], loss.detach()))
        # sync_dist: under DDP the logged value is the mean over the processes, the loss of the global batch.
        self.log("train/loss", loss, prog_bar=True, batch_size=q.shape[0], sync_dist=True)
        return loss

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if len(self._unchecked) >= self.cfg.log_every_n_steps:
            self.check_finite()

    def on_validation_start(self) -> None:
        self.check_finite()  # never validate, or checkpoint, weights a NaN step has spoiled

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.check_finite()

    def on_train_end(self) -> None:
        self.check_finite()

    def check_finite(self) -> None:
        """Raise TrainingDiverged naming the first step whose loss was NaN or inf (one host sync for all steps
        since the last check; under DDP every process stops together)."""
        if not self._unchecked:
            return
        pending, self._unchecked = self._unchecked, []
        values = torch.stack([entry[-1].float() for entry in pending]).cpu().tolist()
        bad = [(entry, v) for entry, v in zip(pending, values) if not math.isfinite(v)]
        if not self.trainer.strategy.reduce_boolean_decision(bool(bad), all=False):
            return
        if not bad:
            raise TrainingDiverged(f"the training loss became NaN or inf on another device by step "
                                   f"{pending[-1][0]}: lower trainer.lr or raise loss.temperature")
        (step, batch_idx, epoch, sids, _), value = bad[0]
        raise TrainingDiverged(
            f"training loss is {value} at step {step} (batch {batch_idx} of epoch {epoch}, samples {sids}...; "
            f"{len(bad)} of the {len(pending)} steps since the last check): lower trainer.lr or raise "
            "loss.temperature")

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.validate_fn is None:
            return
        metrics = self.validate_fn(self.embedder)
        self.log_dict({f"val/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=1, sync_dist=False)

    def configure_gradient_clipping(self, optimizer: Any, gradient_clip_val: float | None = None,
                                    gradient_clip_algorithm: str | None = None) -> None:
        """Clip the gradients' global norm here: Lightning's mixed-precision plugin refuses to clip for a fused
        optimizer (in case it holds fp16-scaled gradients); under bf16 and float32 there is no scaler and the
        gradients are the true ones."""
        if gradient_clip_val:
            torch.nn.utils.clip_grad_norm_(self.parameters(), gradient_clip_val)

    def configure_optimizers(self) -> Any:
        decay, no_decay = [], []
        for name, param in self.embedder.named_parameters():
            (no_decay if param.ndim < 2 else decay).append(param)  # no decay on biases and LayerNorm
        # One kernel for all parameters on a GPU (slower than foreach on a CPU). Not under 16-mixed: a fused AdamW
        # unscales fp16 gradients itself, after the clipping (configure_gradient_clipping) would have seen them.
        fused = self.device.type == "cuda" and str(self.trainer.precision) != "16-mixed"
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.cfg.lr, fused=fused,
        )
        total = self.cfg.max_steps
        warmup = int(self.cfg.warmup_ratio * total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(total, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


class ResumableBatchSampler(Sampler[list[int]]):
    """The batches ``DataLoader(shuffle=True, generator=torch.Generator().manual_seed(seed))`` gives, epoch after
    epoch, but starting at any step: ``position()`` (the trainer's global step) says how many batches were already
    trained on, so a resumed run rebuilds that epoch's order and skips them.

    Epoch e's order is the one the DataLoader's generator gives after e epochs: each epoch the DataLoader's
    iterator draws its base seed, then RandomSampler draws a permutation, then (at the epoch's end) an empty tail.

    Under DDP ``shard()`` gives (rank, world size) and each process takes its contiguous share of every global
    batch: the processes together train on exactly the batches one device would, in the same order, and a resumed
    run continues mid-epoch on every process.
    """

    def __init__(self, n: int, batch_size: int, drop_last: bool, seed: int):
        self.n, self.batch_size, self.drop_last, self.seed = n, batch_size, drop_last, seed
        self.position: Callable[[], int] = lambda: 0
        self.shard: Callable[[], tuple[int, int]] = lambda: (0, 1)

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else -(-self.n // self.batch_size)

    def epoch_order(self, epoch: int) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed)
        for _ in range(epoch + 1):
            torch.empty((), dtype=torch.int64).random_(generator=generator)  # the iterator's base seed
            order = torch.randperm(self.n, generator=generator)
            torch.randperm(self.n, generator=generator)  # RandomSampler's tail, drawn when the epoch runs out
        return order.tolist()

    def __iter__(self) -> Iterator[list[int]]:
        epoch, done = divmod(self.position(), len(self))
        rank, world = self.shard()
        order = self.epoch_order(epoch)
        for start in range(done * self.batch_size, self.n, self.batch_size):
            batch = order[start : start + self.batch_size]
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch[rank * len(batch) // world : (rank + 1) * len(batch) // world]


class _StepLoader(DataLoader):
    """A DataLoader whose place is the trainer's global step (restored with the checkpoint): nothing else to save.
    (Having state_dict/load_state_dict tells Lightning the loader resumes mid-epoch.)"""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass


def sample_collator(embedder: Embedder, cfg: TrainerConfig) -> SampleCollator:
    """Packed steps where the backbone allows (``trainer.packing``), else length-sorted padded chunks."""
    reason = packing_unsupported(embedder.backbone) if cfg.packing else None
    if reason is not None:
        log.info("trainer.packing: %s, so each step encodes its passages in padded chunks of %d (trainer.length_chunk)",
                 reason, cfg.length_chunk)
    return SampleCollator(embedder, cfg.length_chunk, packing=cfg.packing and reason is None)


def train_loader(dataset: Any, embedder: Embedder, cfg: TrainerConfig, seed: int, world_size: int = 1) -> DataLoader:
    """Batches of a ResumableBatchSampler: shuffled with a seeded generator, resumable mid-epoch, and under DDP
    each process takes 1/world of every global batch (per-device batch = global batch / devices)."""
    if cfg.batch_size % world_size:
        raise ValueError(f"trainer.batch_size={cfg.batch_size} is not divisible by the {world_size} processes "
                         "(devices per node x trainer.num_nodes)")
    if len(dataset) < world_size:
        raise ValueError(f"{len(dataset)} training samples cannot feed {world_size} devices")
    # The DataLoader still draws its iterators' base seeds from its own generator, not torch's global one.
    sampler = ResumableBatchSampler(len(dataset), cfg.batch_size, len(dataset) >= cfg.batch_size, seed)
    return _StepLoader(dataset, batch_sampler=sampler, collate_fn=sample_collator(embedder, cfg),
                       num_workers=cfg.num_workers, generator=torch.Generator(),
                       persistent_workers=cfg.num_workers > 0, worker_init_fn=_loader_worker_init)


def _loader_worker_init(worker_id: int) -> None:
    """A loader worker leaves Ctrl-C and SIGTERM (sent to the whole process group) to the main process, which stops
    training between two steps (_StopOnSignal): one that died of them would fail the next fetch. Then Lightning's
    per-worker seeding, which it adds only to a loader without a worker_init_fn."""
    from lightning_fabric.utilities.seed import pl_worker_init_function

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pl_worker_init_function(worker_id)


def _loggers(run: Any, out: Path, logged: dict[str, Any] | None) -> list[Any]:
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    loggers: list[Any] = []
    if run.logger.csv:
        loggers.append(CSVLogger(save_dir=str(out), name="csv", version=""))
    if run.logger.wandb.enabled:
        loggers.append(WandbLogger(
            project=run.logger.wandb.project, name=run.name, group=run.logger.wandb.group, save_dir=str(out),
            mode=run.logger.wandb.mode, config=logged,
        ))
    return loggers


def finish_wandb(summary: dict[str, Any] | None, split: str) -> None:
    """Write a job's held-out results into its W&B run's summary and finish the run, once the results are written
    (Lightning leaves the run open: the test results would never reach W&B, whose log would end in
    HandleAbandonedError). One run per job, so the next job of a multirun in this process starts its own. A job
    that failed (``summary`` None) is marked failed."""
    wandb = sys.modules.get("wandb")  # never imported: no W&B logger in this run
    if wandb is None or wandb.run is None:
        return
    if summary is not None:
        wandb.run.summary.update(wandb_summary(summary, split))
    wandb.finish(exit_code=0 if summary is not None else 1)


def wandb_summary(summary: dict[str, Any], split: str) -> dict[str, float]:
    """Flat keys ``<split>/<untuned|trained>/<overall|by_kind/KIND|win_rate>/<metric>`` of one run's results, or of
    the pooled results of its folds, so that the runs of a sweep's group line up in W&B's table."""
    if "pooled" in summary:
        results = {model: {"overall": groups["overall"],
                           "by_kind": {kind: v for kind, v in groups.items() if kind != "overall"}}
                   for model, groups in summary["pooled"].items()}
    else:
        results = summary.get("results") or {}
    flat: dict[str, float] = {}

    def walk(node: dict[str, Any], prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}/{key}")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                flat[f"{prefix}/{key}"] = value  # per_query (a list) stays in results.json

    for model, result in results.items():
        walk(result, f"{split}/{model}")
    if summary.get("objective") is not None:
        flat["objective"] = summary["objective"]
    return flat


def fit(run: Any, embedder: Embedder, train_data: Any, validate: Callable[[Embedder], dict[str, float]] | None,
        out: Path, state_dir: Path | None = None, logged: dict[str, Any] | None = None) -> tuple[Embedder, dict[str, Any]]:
    """Train a copy of ``embedder`` as ``run`` (the typed RunConfig) says; return the best checkpoint's embedder (also
    saved to ``out/model``). ``logged``: the resolved config W&B records with the run.

    With ``state_dir`` (the run's resume directory, see ``finish_resume``) the checkpoints live there, with
    ``last.ckpt`` saved at every validation; a ``last.ckpt`` left by a killed run of the same config is resumed.
    """
    import copy

    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import ModelCheckpoint

    tcfg = run.trainer
    pl.seed_everything(run.seed, workers=True, verbose=False)
    model = copy.deepcopy(embedder)
    loss = instantiate(run.loss.model_dump(by_alias=True))
    module = ContrastiveModule(model, loss, tcfg, validate)
    monitor = f"val/ndcg@{run.eval.ndcg_k}"
    callbacks: list[Any] = monitoring(tcfg)
    checkpoint = None
    if validate is not None:
        checkpoint = ModelCheckpoint(dirpath=str(state_dir or out / "checkpoints"), monitor=monitor, mode="max",
                                     save_top_k=1, filename="best-{step}")
        callbacks.append(checkpoint)
    stop = _StopOnSignal(state_dir, tcfg.max_steps)
    callbacks.append(stop)
    if state_dir is not None:
        # After the best checkpoint (Lightning keeps their order), so last.ckpt holds this validation's best score.
        trigger = {"save_on_train_epoch_end": False} if validate else {"every_n_train_steps": tcfg.val_every_n_steps}
        callbacks += [_RandomState(), ModelCheckpoint(dirpath=str(state_dir), filename=LAST, monitor=None,
                                                       save_top_k=1, enable_version_counter=False, **trigger)]
    trainer = pl.Trainer(
        accelerator=tcfg.accelerator, devices=tcfg.devices, num_nodes=tcfg.num_nodes, strategy=tcfg.strategy,
        precision=tcfg.precision,
        max_steps=tcfg.max_steps, max_epochs=-1, val_check_interval=tcfg.val_every_n_steps,
        check_val_every_n_epoch=None, num_sanity_val_steps=0, gradient_clip_val=tcfg.grad_clip,
        logger=_loggers(run, out, logged) or False, callbacks=callbacks, log_every_n_steps=tcfg.log_every_n_steps,
        enable_checkpointing=checkpoint is not None or state_dir is not None, default_root_dir=str(out),
        deterministic=False, use_distributed_sampler=False,  # train_loader shards the global batches itself
    )
    # Global batch = trainer.batch_size whatever the device count (devices: N, "auto", -1, a list; several nodes).
    loader = train_loader(train_data, model, tcfg, run.seed, trainer.world_size)
    val_loader = DataLoader([0], batch_size=1, collate_fn=lambda x: x) if validate is not None else None
    if val_loader is not None and tcfg.val_every_n_steps > len(loader):
        trainer.val_check_interval = 1.0  # validate at epoch ends when an epoch is shorter than the interval
        trainer.check_val_every_n_epoch = 1
    if val_loader is not None:  # the steps a validation follows (one batch a step)
        every = len(loader) if tcfg.val_every_n_steps > len(loader) else tcfg.val_every_n_steps
        stop.validates_after = lambda step: step % every == 0
    loader.batch_sampler.position = lambda: trainer.global_step
    loader.batch_sampler.shard = lambda: (trainer.global_rank, trainer.world_size)  # known once fit() has started
    with _resume_lock(state_dir if trainer.global_rank == 0 else None):
        resume_from = _resume_point(state_dir, tcfg.max_steps, clean=trainer.global_rank == 0)
        trainer.fit(module, train_dataloaders=loader, val_dataloaders=val_loader, ckpt_path=resume_from,
                    weights_only=False)
    if trainer.global_rank != 0:
        raise OtherRank(0)
    info: dict[str, Any] = {"steps": trainer.global_step, "train_mode_share": _share(module.train_mode_seen)}
    if state_dir is not None:
        info.update(state_dir=str(state_dir), resumed_from=resume_from)
    if checkpoint is not None and checkpoint.best_model_path:
        state = torch.load(checkpoint.best_model_path, map_location="cpu", weights_only=False)["state_dict"]
        module.load_state_dict(state)
        info.update(best_checkpoint=checkpoint.best_model_path,
                    best_val=float(checkpoint.best_model_score) if checkpoint.best_model_score is not None else None)
    model = module.embedder.cpu().eval()
    if trainer.is_global_zero:
        model.save(out / "model")
        info["model_dir"] = str(out / "model")
    for logger in trainer.loggers:
        logger.finalize("success")
    return model, info


def monitoring(cfg: TrainerConfig) -> list[pl.Callback]:
    """The callbacks of every training run (benchmarks/training_throughput.py times them too): the learning rate
    logged each step, and the progress bar."""
    from pytorch_lightning.callbacks import LearningRateMonitor

    return [LearningRateMonitor(logging_interval="step"), progress_bar(cfg)]


def progress_bar(cfg: TrainerConfig) -> pl.Callback:
    """Refreshed every log_every_n_steps steps: showing the loss reads it from the device, a sync that would
    otherwise stall every step."""
    from pytorch_lightning.callbacks import TQDMProgressBar

    return TQDMProgressBar(refresh_rate=cfg.log_every_n_steps)


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


LAST = "last"  # last.ckpt: the resume point


class _RandomState(pl.Callback):
    """Saves the random generators' state in every checkpoint and restores it when a run resumes, so dropout
    draws the same masks after a restart as in an uninterrupted run (Lightning does not save them). Under DDP
    each process draws its own masks: every process's state is saved, and each gets its own back."""

    def __init__(self) -> None:
        self._restore: dict[str, Any] | None = None
        self._trainer: pl.Trainer | None = None

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._trainer = trainer

    @staticmethod
    def _local() -> dict[str, Any]:
        import numpy as np

        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        return {"torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state() if torch.cuda.is_initialized() else None,  # this process's GPU
                "numpy": [kind, torch.from_numpy(keys.astype("int64")), pos, has_gauss, gauss],
                "python": random.getstate()}

    def state_dict(self) -> dict[str, Any]:
        # Every process builds the checkpoint (rank 0 writes it), so all of them take part in the gather.
        world = self._trainer.world_size if self._trainer is not None else 1
        ranks: list[Any] = [self._local()]
        if world > 1:
            ranks = [None] * world
            torch.distributed.all_gather_object(ranks, self._local())
        return {"ranks": ranks}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._restore = state_dict

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._restore is None:
            return
        import numpy as np

        ranks, self._restore = self._restore.get("ranks"), None
        if not ranks:
            log.warning("resume: the checkpoint's random state is in an older format; dropout masks from here on "
                        "differ from an uninterrupted run")
            return
        if len(ranks) != trainer.world_size:
            log.warning("resume: the checkpoint was saved by %d process(es), this run has %d; dropout masks from "
                        "here on differ from an uninterrupted run", len(ranks), trainer.world_size)
        state = ranks[trainer.global_rank % len(ranks)]
        torch.set_rng_state(state["torch"])
        if state["cuda"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state(state["cuda"])
        kind, keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state((kind, keys.numpy().astype("uint32"), pos, has_gauss, gauss))
        version, internal, gauss_next = state["python"]
        random.setstate((version, tuple(internal), gauss_next))


class _StopOnSignal(pl.Callback):
    """Ctrl-C (SIGINT) or SIGTERM while training: finish the step, save ``last.ckpt`` where the resume machinery
    looks for it, and raise TrainingInterrupted. The save happens where Lightning's own step checkpoints are made
    (at the end of a step); at a step a validation follows, the validation's own ``last.ckpt`` is the save and the
    stop comes once it is written (at the next step's start). A second Ctrl-C stops at once, keeping the last
    checkpoint saved before. One process only: under DDP Lightning's handling of KeyboardInterrupt stays."""

    def __init__(self, state_dir: Path | None, max_steps: int) -> None:
        self.state_dir, self.max_steps = state_dir, max_steps
        self.validates_after: Callable[[int], bool] = lambda step: False  # set by fit() once the loader exists
        self.signame: str | None = None
        self.saved_step: int | None = None  # the step of the newest checkpoint written (or resumed from)
        self._replaced: dict[int, Any] = {}
        self._trainer: pl.Trainer | None = None

    def _install(self, trainer: pl.Trainer, signum: int) -> None:
        if trainer.world_size == 1 and threading.current_thread() is threading.main_thread():
            self._trainer = trainer
            if signum not in self._replaced:
                self._replaced[signum] = signal.signal(signum, self._on_signal)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # After Lightning has recorded every handler (it puts them back at its teardown) and set its SIGTERM one,
        # which stops at the end of an epoch loop's step without a checkpoint.
        for signum in (signal.SIGINT, signal.SIGTERM):
            self._install(trainer, signum)
        if self._replaced:
            log.info("training: Ctrl-C or SIGTERM stops after the current step, saving a checkpoint to resume from")

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.signame is None:
            self.signame = name
            log.warning("%s: stopping after this training step (Ctrl-C again stops at once)", name)
            return
        self._restore()
        self._stop(save=False)

    def _stop(self, save: bool) -> None:
        trainer = self._trainer
        assert trainer is not None and self.signame is not None
        last = self.state_dir / f"{LAST}.ckpt" if self.state_dir is not None else None
        if last is not None and save:
            trainer.save_checkpoint(last)
        have = last is not None and self.saved_step is not None
        raise TrainingInterrupted(self.signame, trainer.global_step, self.max_steps, str(last) if have else None,
                                  self.saved_step if have else None, resumable=last is not None)

    def on_save_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        self.saved_step = int(checkpoint["global_step"])

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule,
                           checkpoint: dict[str, Any]) -> None:
        self.saved_step = int(checkpoint["global_step"])

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if self.signame and not self.validates_after(trainer.global_step):
            self._stop(save=True)

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        # The signal came during (or just before) a validation: its last.ckpt holds the step reached. (Any other
        # step runs to its end, where it is saved.)
        if self.signame and self.validates_after(trainer.global_step):
            self._stop(save=False)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore()
        if self.signame:  # came during the last validation: the run still stops, its checkpoint is the last one
            self._stop(save=False)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, handler in self._replaced.items():
            signal.signal(signum, handler)
        self._replaced = {}


@contextlib.contextmanager
def _resume_lock(state_dir: Path | None) -> Iterator[None]:
    """One process at a time trains in a resume directory (two runs of one config at once would clobber it)."""
    if state_dir is None:
        yield
        return
    import fcntl

    state_dir.mkdir(parents=True, exist_ok=True)
    with (state_dir / "LOCK").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another run of this config is training in {state_dir}; wait for it to finish, or "
                               "run with trainer.resume=false to train a separate copy from scratch") from None
        yield


def _resume_point(state_dir: Path | None, max_steps: int, clean: bool = True) -> str | None:
    """The last.ckpt to resume from, or None to start afresh (``clean``: clearing what an unreadable state left)."""
    if state_dir is None:
        return None
    last = state_dir / f"{LAST}.ckpt"
    if last.is_file():
        try:
            step = int(torch.load(last, map_location="cpu", weights_only=False)["global_step"])
        except Exception as err:  # noqa: BLE001 - any damage: start again rather than fail
            log.warning("resume checkpoint %s is unreadable (%s: %s); training from scratch",
                        last, type(err).__name__, err)
        else:
            log.info("resuming training from %s (step %d of %d)", last, step, max_steps)
            return str(last)
    for stale in state_dir.iterdir() if clean and state_dir.is_dir() else ():
        if stale.name != "LOCK":
            (shutil.rmtree if stale.is_dir() else os.remove)(stale)
    log.info("training checkpoints go to %s until the results are written: the same command run again after a "
             "kill resumes from them", state_dir)
    return None


def finish_resume(info: dict[str, Any], out: Path) -> None:
    """Once the run's results are safe: move the best checkpoint into ``out/checkpoints`` and delete the resume
    directory (a rerun of the same command then trains afresh)."""
    state = info.get("state_dir")
    if not state or not Path(state).is_dir():
        return
    best = info.get("best_checkpoint")
    if best and Path(best).is_file() and Path(best).resolve().parent == Path(state).resolve():
        (out / "checkpoints").mkdir(parents=True, exist_ok=True)
        moved = out / "checkpoints" / Path(best).name
        shutil.move(best, moved)
        info["best_checkpoint"] = str(moved)
    shutil.rmtree(state, ignore_errors=True)
    info.pop("state_dir", None)
