"""Contrastive fine-tuning with PyTorch Lightning.

Each training sample is (query, positive, K negatives); the loss sees the sample's own 1+K passages
unless in-batch negatives are switched on. AdamW, linear warmup then linear decay; the checkpoint
with the best validation nDCG@k is the one kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from hins.config import TrainerConfig
from hins.model import Embedder

log = logging.getLogger(__name__)


class SampleCollator:
    """Tokenise a batch of samples: queries, then every sample's positive and negatives in order."""

    def __init__(self, embedder: Embedder, chunk: int):
        self.embedder = embedder
        self.chunk = chunk

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, Any]:
        passages = [p for r in rows for p in [r["pos"], *r["neg"]]]
        group = 1 + len(rows[0]["neg"])
        if any(1 + len(r["neg"]) != group for r in rows):
            raise ValueError("every sample of a batch must have the same number of negatives")
        qids = [r["qid"] for r in rows]
        index = {q: i for i, q in enumerate(dict.fromkeys(qids))}
        return {
            "query": self.embedder.tokenize([r["query"] for r in rows], "query"),
            "passages": self.embedder.tokenize_by_length(passages, "passage", self.chunk),
            "group": group,
            "query_group": torch.tensor([index[q] for q in qids]),
            "sid": [r["sid"] for r in rows],
        }


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

    def on_train_start(self) -> None:
        # transformers 5 returns models in eval mode; make sure dropout is on when training starts.
        self.embedder.train()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        self.train_mode_seen.append(self.embedder.backbone.training)
        q = self.embedder(batch["query"])
        p = self.embedder.forward_chunks(*batch["passages"]).view(q.shape[0], batch["group"], -1)
        loss = self.loss_fn(q, p, batch["query_group"])
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"training loss is {loss.item()} at step {self.global_step} (batch {batch_idx}, "
                f"samples {batch['sid'][:4]}...): lower trainer.lr or raise loss.temperature"
            )
        self.log("train/loss", loss, prog_bar=True, batch_size=q.shape[0])
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.validate_fn is None:
            return
        metrics = self.validate_fn(self.embedder)
        self.log_dict({f"val/{k}": v for k, v in metrics.items()}, prog_bar=True, batch_size=1, sync_dist=False)

    def configure_optimizers(self) -> Any:
        decay, no_decay = [], []
        for name, param in self.embedder.named_parameters():
            (no_decay if param.ndim < 2 else decay).append(param)  # no decay on biases and LayerNorm
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": self.cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=self.cfg.lr,
        )
        total = self.cfg.max_steps
        warmup = int(self.cfg.warmup_ratio * total)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_warmup_decay(total, warmup))
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


def train_loader(dataset: Any, embedder: Embedder, cfg: TrainerConfig, seed: int, world_size: int = 1) -> DataLoader:
    """Shuffled with a seeded generator; per-device batch = global batch / devices."""
    if cfg.batch_size % world_size:
        raise ValueError(f"trainer.batch_size={cfg.batch_size} is not divisible by the {world_size} devices")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        dataset, batch_size=cfg.batch_size // world_size, shuffle=True, drop_last=len(dataset) >= cfg.batch_size,
        collate_fn=SampleCollator(embedder, cfg.length_chunk), num_workers=cfg.num_workers, generator=generator,
        persistent_workers=cfg.num_workers > 0,
    )


def _loggers(cfg: Any, run: Any, out: Path) -> list[Any]:
    from pytorch_lightning.loggers import CSVLogger, WandbLogger

    from hins.logging_utils import loggable_config

    loggers: list[Any] = []
    if run.logger.csv:
        loggers.append(CSVLogger(save_dir=str(out), name="csv", version=""))
    if run.logger.wandb.enabled:
        loggers.append(WandbLogger(
            project=run.logger.wandb.project, name=run.name, group=run.logger.wandb.group, save_dir=str(out),
            mode=run.logger.wandb.mode, config=loggable_config(cfg),
        ))
    return loggers


def fit(cfg: Any, run: Any, embedder: Embedder, train_data: Any,
        validate: Callable[[Embedder], dict[str, float]] | None, out: Path) -> tuple[Embedder, dict[str, Any]]:
    """Train a copy of ``embedder``; return the best checkpoint's embedder (also saved to ``out/model``)."""
    import copy

    from hydra.utils import instantiate
    from pytorch_lightning.callbacks import LearningRateMonitor, ModelCheckpoint

    tcfg = run.trainer
    pl.seed_everything(run.seed, workers=True, verbose=False)
    model = copy.deepcopy(embedder)
    loss = instantiate(cfg.loss)
    module = ContrastiveModule(model, loss, tcfg, validate)
    monitor = f"val/ndcg@{run.eval.ndcg_k}"
    callbacks: list[Any] = [LearningRateMonitor(logging_interval="step")]
    checkpoint = None
    if validate is not None:
        checkpoint = ModelCheckpoint(dirpath=str(out / "checkpoints"), monitor=monitor, mode="max", save_top_k=1,
                                     filename="best-{step}")
        callbacks.append(checkpoint)
    devices = tcfg.devices
    world = devices if isinstance(devices, int) else 1
    trainer = pl.Trainer(
        accelerator=tcfg.accelerator, devices=devices, strategy=tcfg.strategy, precision=tcfg.precision,
        max_steps=tcfg.max_steps, max_epochs=-1, val_check_interval=tcfg.val_every_n_steps,
        check_val_every_n_epoch=None, num_sanity_val_steps=0, gradient_clip_val=tcfg.grad_clip,
        logger=_loggers(cfg, run, out) or False, callbacks=callbacks, log_every_n_steps=tcfg.log_every_n_steps,
        enable_checkpointing=checkpoint is not None, default_root_dir=str(out), deterministic=False,
    )
    loader = train_loader(train_data, model, tcfg, run.seed, world)
    val_loader = DataLoader([0], batch_size=1, collate_fn=lambda x: x) if validate is not None else None
    if val_loader is not None and tcfg.val_every_n_steps > len(loader):
        trainer.val_check_interval = None  # validate at epoch ends when an epoch is shorter than the interval
        trainer.check_val_every_n_epoch = 1
    trainer.fit(module, train_dataloaders=loader, val_dataloaders=val_loader)
    info: dict[str, Any] = {"steps": trainer.global_step, "train_mode_share": _share(module.train_mode_seen)}
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


def _share(flags: list[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None
