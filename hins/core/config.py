"""The config schema: every value is checked right after composition, before any work starts.

Hydra composes the YAML groups under hins/conf/; ``validate`` turns the result into typed, checked
settings. A typo (an unknown key) or an impossible value (ratios that do not sum to 1, K < 1, an
unknown tier) fails with a message naming the config key, not an hour into a run.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, get_args
from urllib.parse import urlsplit, urlunsplit

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException
from pydantic import (BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, ValidationInfo,
                      field_validator, model_validator)

from hins.core.artifacts import sha256_file
from hins.core.logging_utils import SecretValueError, scrub, secret_advice, secret_problem
from hins.core.records import TIERS, check_passage_template


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and what was expected."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def unkeyed(self) -> set[str]:
        """Fields that do not shape what a stage builds from these settings (how an endpoint is driven, say)."""
        return set()

    def key(self) -> Any:
        """What of these settings an artifact key holds (hins.stages.base.stage_key): every field but the
        ``unkeyed`` ones, nested settings by their own ``key``."""
        skip = self.unkeyed()
        return {name: _key_of(getattr(self, name)) for name in type(self).model_fields if name not in skip}


class Settings(_Strict):
    """The typed settings one pipeline stage reads: a view of the run's config whose fields carry the names they
    have in ``RunConfig`` (``negatives``, ``data.split``, ...), so what a stage declares is where it comes from.
    ``of(run)`` picks them out; fields that are no setting of the run (a fold, say) are given."""

    @classmethod
    def of(cls, run: BaseModel, **given: Any) -> Any:
        return cls.model_validate({**_project(cls, run), **given})


def _project(view: type[BaseModel], section: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, field in view.model_fields.items():
        if name not in type(section).model_fields:
            continue
        value = getattr(section, name)
        members = [t for t in (field.annotation, *get_args(field.annotation)) if isinstance(t, type)]
        narrower = [t for t in members if issubclass(t, BaseModel)]
        if isinstance(value, BaseModel) and narrower and not isinstance(value, tuple(narrower)):
            value = _narrow(narrower, value)  # a view of a section: only the fields the stage reads
        out[name] = value
    return out


def _narrow(views: list[type[BaseModel]], value: BaseModel) -> BaseModel:
    """The first view that takes ``value``'s fields (a union of views, one per data source, picks its own)."""
    for view in views:
        try:
            return view.model_validate(_project(view, value))
        except ValidationError:
            continue
    raise ValueError(f"no view of {type(value).__name__} among {[v.__name__ for v in views]}")


def _key_of(value: Any) -> Any:
    if isinstance(value, _Strict):
        return value.key()
    return value.model_dump(mode="json") if isinstance(value, BaseModel) else value


class SplitConfig(_Strict):
    train: float = Field(gt=0, le=1)
    val: float = Field(ge=0, lt=1)
    test: float = Field(ge=0, lt=1)

    @model_validator(mode="after")
    def _sums_to_one(self) -> "SplitConfig":
        if not math.isclose(self.train + self.val + self.test, 1.0, abs_tol=1e-6):
            raise ValueError(f"train + val + test must sum to 1, got {self.train + self.val + self.test:g}")
        return self


class _DataBase(_Strict):
    passage_template: str

    @field_validator("passage_template")
    @classmethod
    def _template(cls, v: str) -> str:
        return check_passage_template(v)


class SyntheticData(_DataBase):
    """Conversations from the synthesis backend, split at random by conversation."""

    source: Literal["synthetic"]
    n_conversations: int = Field(ge=4)
    split: SplitConfig

    def check_files(self) -> None:
        """Nothing to read: the conversations are written by the synthesis backend."""


class LocomoData(_DataBase):
    """LoCoMo-format conversations, in folds by conversation: train on the others, evaluate on one."""

    source: Literal["locomo"]
    path: str  # null: $HINS_LOCOMO, else ../shared/data/locomo/locomo10.json beside the repository
    folds: int = Field(ge=2)
    fold: int | Literal["all"]
    train_queries: list[Literal["qa", "observation"]] = Field(min_length=1)
    train_categories: list[int]
    eval_categories: list[int] = Field(min_length=1)
    val_conversations: int = Field(ge=0)

    @field_validator("path", mode="before")
    @classmethod
    def _default_path(cls, v: str | None) -> str:
        if v is None:
            from hins.evaluation.locomo import default_path

            return str(default_path())
        return v

    @field_validator("train_categories", "eval_categories")
    @classmethod
    def _categories(cls, v: list[int]) -> list[int]:
        bad = [c for c in v if c not in (1, 2, 3, 4, 5)]
        if bad:
            raise ValueError(f"LoCoMo categories are 1-5 (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop, "
                             f"5 adversarial), got {bad}")
        return v

    def check_files(self) -> None:
        if not Path(self.path).is_file():
            raise ConfigError(f"invalid config: data.path: no file at {self.path!r} (point data.path or the "
                              "HINS_LOCOMO environment variable at a LoCoMo-format JSON file)")

    @model_validator(mode="after")
    def _fold(self) -> "LocomoData":
        if self.fold != "all" and not 0 <= self.fold < self.folds:
            raise ValueError(f"fold={self.fold} must be 'all' or in 0..{self.folds - 1} (folds={self.folds})")
        return self


DataConfig = Annotated[SyntheticData | LocomoData, Field(discriminator="source")]
DATA_SCHEMAS: dict[str, type[_DataBase]] = {"synthetic": SyntheticData, "locomo": LocomoData}
DATA_SOURCES = tuple(DATA_SCHEMAS)


class _EvidenceRange(_Strict):
    """The evidence filter (paper §3.4): queries outside [evidence_min, evidence_max] are dropped and counted."""

    evidence_min: int = Field(ge=1)
    evidence_max: int = Field(ge=1)

    @model_validator(mode="after")
    def _order(self) -> Any:
        if self.evidence_min > self.evidence_max:
            raise ValueError(f"evidence_min ({self.evidence_min}) must be <= evidence_max ({self.evidence_max})")
        return self


class QueriesConfig(_EvidenceRange):
    """``queries=default`` / ``queries=locomo``: the source's own queries, filtered to the evidence range."""

    source: Literal["data"] = "data"  # absent from the YAML files: the default
    dry_run: ClassVar[bool] = False  # the source's own queries cost no LLM call


Tier = Literal["hard", "medium", "easy"]


class NegativesConfig(_Strict):
    """``negatives``: the sampler's settings (hins/conf/negatives/*.yaml give every value; hins.stages.negatives draws by them)."""

    strategy: Literal["hierarchical", "uniform", "mined"]
    k: int = Field(ge=1)
    # ``calibrated``: measured per run on its training split (the tier_mix stage, hins.stages.tier_mix)
    ratios: dict[str, float] | Literal["calibrated"]
    tiers: list[str] = Field(min_length=1)
    pool_caps: dict[str, float]
    medium_rule: Literal["prose", "literal"]
    shortfall: Literal["backfill", "mask", "drop"]
    backfill_order: list[str]
    group_size: int = Field(ge=2)
    mine_margin: float = Field(ge=0, le=2)

    @field_validator("ratios", mode="before")
    @classmethod
    def _ratio_string(cls, v: Any) -> Any:
        """``H-M-E`` (the sweeps' form) is hard/medium/easy percentages summing to 100 (``30-30-40``) or fractions
        summing to 1 (``0.3-0.3-0.4``); any other sum is a typo, not weights to normalise."""
        if not isinstance(v, str) or v == "calibrated":
            return v
        parts = v.split("-")
        try:
            weights = [float(p) for p in parts]
        except ValueError:
            weights = []
        if len(weights) != len(TIERS) or any(w < 0 or not math.isfinite(w) for w in weights) or sum(weights) <= 0:
            raise ValueError(f"expected hard-medium-easy weights such as 30-30-40, a mapping, or 'calibrated', "
                             f"got {v!r}")
        total = sum(weights)
        scale = next((s for s in (100.0, 1.0) if math.isclose(total, s, abs_tol=1e-6 * s)), None)
        if scale is None:
            raise ValueError(f"hard-medium-easy ratios must sum to 100 (percent) or 1, got {total:g} ({v!r})")
        return {t: w / scale for t, w in zip(TIERS, weights)}

    @field_validator("shortfall", mode="before")
    @classmethod
    def _no_repeats(cls, v: Any) -> Any:
        if v == "replacement":  # the old policy: it drew the same passage twice into a sample
            raise ValueError("expected 'backfill', 'mask' or 'drop'; 'replacement' was removed: a sample no longer "
                             "holds a passage twice (a short sample keeps fewer negatives under backfill or mask)")
        return v

    @field_validator("ratios", "pool_caps")
    @classmethod
    def _known_tiers(cls, v: dict[str, float] | str) -> dict[str, float] | str:
        if isinstance(v, str):  # ratios: calibrated
            return v
        unknown = sorted(set(v) - set(TIERS))
        if unknown:
            raise ValueError(f"unknown tier(s) {unknown}; the tiers are {list(TIERS)}")
        missing = sorted(set(TIERS) - set(v))
        if missing:
            raise ValueError(f"missing tier(s) {missing}; give a value for each of {list(TIERS)}")
        negative = {t: x for t, x in v.items() if x < 0 or not math.isfinite(x)}
        if negative:
            raise ValueError(f"values must be finite and >= 0, got {negative}")
        return v

    @field_validator("tiers", "backfill_order")
    @classmethod
    def _tier_list(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(TIERS))
        if unknown:
            raise ValueError(f"unknown tier(s) {unknown}; the tiers are {list(TIERS)}")
        if len(set(v)) != len(v):
            raise ValueError(f"a tier is listed twice: {v}")
        return v

    @property
    def calibrated(self) -> bool:
        return self.ratios == "calibrated"

    @property
    def uses_model(self) -> bool:
        """Whether drawing the negatives needs the base model: mining ranks with it, calibration measures with it."""
        return self.strategy == "mined" or self.calibrated

    def drawn_with(self, measured: dict[str, float] | None = None) -> "NegativesConfig":
        """The settings the sampler draws by: with ``ratios: calibrated``, the ratios measured for the run."""
        if not self.calibrated:
            return self
        if measured is None:
            raise ValueError("negatives.ratios=calibrated: the ratios are measured per run (the tier_mix stage)")
        return self.model_copy(update={"ratios": dict(measured)})

    def effective_ratios(self) -> dict[str, float]:
        """The ratios of the tiers in use, renormalised to sum to 1 (Table 4's variants keep K)."""
        assert isinstance(self.ratios, dict), "calibrated ratios are measured first (drawn_with)"
        total = sum(self.ratios.get(t, 0.0) for t in self.tiers)
        return {t: self.ratios.get(t, 0.0) / total for t in TIERS if t in self.tiers}

    @field_validator("ratios")
    @classmethod
    def _sums_to_one(cls, v: dict[str, float] | str) -> dict[str, float] | str:
        if not isinstance(v, str) and not math.isclose(sum(v.values()), 1.0, abs_tol=1e-6):
            raise ValueError(f"ratios must sum to 1, got {sum(v.values()):g} ({v})")
        return v

    @model_validator(mode="after")
    def _ratios(self) -> "NegativesConfig":
        if self.calibrated:
            if self.strategy != "hierarchical":
                raise ValueError(f"ratios=calibrated sets the tier mix that strategy=hierarchical draws; "
                                 f"strategy={self.strategy} draws no tiers")
            return self
        if self.strategy == "hierarchical" and sum(self.ratios[t] for t in self.tiers) <= 0:
            raise ValueError(f"the tiers in use {self.tiers} all have ratio 0")
        return self


class ModelConfig(_Strict):
    name: str
    source: Literal["hub", "package", "dir", "random"]
    path: str | None = None
    pooling: Literal["auto", "cls", "mean"]
    query_prefix: str = ""
    max_query_length: int = Field(ge=4, le=8192)
    max_passage_length: int = Field(ge=4, le=8192)
    temperature: float = Field(ge=0.005, le=10)  # bounds as loss.temperature's, so the error names this key
    arch: dict[str, Any] = Field(default_factory=dict)
    # Evaluation and mining encode in this dtype: bfloat16 is ~3x float32 on a CPU with AVX512-BF16 at cosine
    # >= 0.9998 to float32 (benchmarks/README.md); float32 keeps every reported metric free of rounding.
    encode_dtype: Literal["float32", "bfloat16"] = "float32"

    def unkeyed(self) -> set[str]:
        """The loss temperature is no part of the base model; a directory counts by its content, not its path
        (the ``model`` input adds what the weights are, ``hins.training.model.model_identity``)."""
        return {"temperature", *(("path",) if self.source == "dir" else ())}


class LossConfig(_Strict):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)
    target: str = Field(alias="_target_")
    # Below 0.005 the logits of cosine scores exceed 200 and bf16 training loses all resolution; NaN and inf
    # fail every bound, so they are rejected here too.
    temperature: float = Field(ge=0.005, le=10)
    in_batch_negatives: bool


class TrainerConfig(_Strict):
    accelerator: Literal["cpu", "gpu", "cuda", "mps", "auto"]
    devices: int | str  # N >= 1, -1 (all), "auto", or device ids "0,1"
    num_nodes: int = Field(default=1, ge=1)  # machines of a multi-node DDP run (Slurm: one task per device)
    strategy: str  # a Lightning strategy name: auto, ddp, ddp_spawn, fsdp, ...
    # 64-true: float64 throughout, for exact comparisons (tests/test_ddp.py), not for speed.
    precision: Literal["64-true", "32-true", "32", "bf16-mixed", "bf16-true", "16-mixed"]
    batch_size: int = Field(ge=1)
    # One unpadded token stream per step through a BERT's layers (hins.training.packed); false, or another architecture:
    # the step's passages in chunks of length_chunk texts of similar length, each padded on its own.
    packing: bool = True
    length_chunk: int = Field(ge=1)
    max_steps: int = Field(ge=1)
    lr: float = Field(gt=0, le=1e-2)  # above 1e-2 AdamW fine-tuning of a transformer diverges; NaN/inf rejected
    weight_decay: float = Field(ge=0, le=1)
    warmup_ratio: float = Field(ge=0, lt=1)
    val_every_n_steps: int = Field(ge=1)
    grad_clip: float | None = Field(default=None, gt=0)
    num_workers: int = Field(ge=0)
    log_every_n_steps: int = Field(ge=1)  # also how often the loss is checked for NaN / inf (one host sync)
    # Continue an interrupted run of the same config from its last checkpoint (paths.train_state_dir).
    resume: bool = True

    @field_validator("devices")
    @classmethod
    def _devices(cls, v: int | str) -> int | str:
        ok = v >= 1 or v == -1 if isinstance(v, int) else (v == "auto" or re.fullmatch(r"-1|\d+(,\d+)*,?", v.strip()))
        if not ok:
            raise ValueError(f"expected a device count >= 1, -1 (all), 'auto' or device ids like '0,1', got {v!r}")
        return v

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, v: str) -> str:
        from pytorch_lightning.strategies import StrategyRegistry

        known = ["auto", *StrategyRegistry.available_strategies()]
        if v not in known:
            raise ValueError(f"unknown Lightning strategy {v!r}; expected one of {sorted(known)}")
        return v

    @model_validator(mode="after")
    def _global_batch(self) -> "TrainerConfig":
        # The processes are devices per node x nodes (a device count not yet known, "auto" or -1, counts as 1 here;
        # train_loader checks the real world size once Lightning has it).
        world = (self.devices if isinstance(self.devices, int) and self.devices > 1 else 1) * self.num_nodes
        if world > 1 and self.batch_size % world:
            nodes = f" x num_nodes={self.num_nodes}" if self.num_nodes > 1 else ""
            raise ValueError(f"batch_size={self.batch_size} (the global batch) must be divisible by devices="
                             f"{self.devices}{nodes}")
        return self


class EvalConfig(_Strict):
    ks: list[int] = Field(min_length=1)
    ndcg_k: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    split: Literal["val", "test"]
    # LoCoMo-format files (a user's own logs) every trained model is also evaluated on, untuned beside trained
    extra: list[str] = Field(default_factory=list)

    @field_validator("ks")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        if any(k < 1 for k in v):
            raise ValueError(f"every k must be >= 1, got {v}")
        return sorted(set(v))


class WandbConfig(_Strict):
    enabled: bool
    mode: Literal["offline", "online", "disabled"]
    project: str
    group: str | None = None


class LoggerConfig(_Strict):
    wandb: WandbConfig
    csv: bool


class TargetConfig(_Strict):
    """A group naming the class that implements it (Hydra's ``_target_``) and, in its other keys, that class's
    arguments: checked when the config is composed by building the object once (``_check_target``), and by their
    own schema where one is registered (the LLM groups, ``_TARGET_SCHEMAS``)."""

    model_config = ConfigDict(extra="allow", frozen=True, populate_by_name=True)
    target: str = Field(alias="_target_")

    def arguments(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    @property
    def dry_run(self) -> bool:
        """Whether an LLM group asks to price the run's LLM steps instead of running them (its ``dry_run``)."""
        return bool(self.arguments().get("dry_run", False))

    def build(self, **kwargs: Any) -> Any:
        return instantiate({"_target_": self.target, **self.arguments()}, **kwargs)

    def schema(self) -> "_Strict | None":
        """The arguments checked by their registered schema (an LLM group's endpoint settings), if there is one."""
        schema = _TARGET_SCHEMAS.get(self.target)
        return schema.model_validate(self.arguments()) if schema is not None else None

    def unkeyed(self) -> set[str]:
        schema = self.schema()
        return schema.unkeyed() if schema is not None else set()

    def key(self) -> dict[str, Any]:
        """The group by what shapes its output: an LLM group by its answer settings (prompt files by content; no
        transport, price or secret setting); a group reading a local file (``path``) with the file's content
        hash, so an edited prompt or persona file builds new artifacts."""
        out = {"_target_": self.target, **{n: getattr(self, n) for n in type(self).model_fields if n != "target"}}
        schema = self.schema()
        out.update(schema.key() if schema is not None else self.arguments())
        path = self.arguments().get("path")
        if isinstance(path, str) and Path(path).is_file():
            out["path_sha256"] = sha256_file(Path(path))
        return out


class PersonasConfig(TargetConfig):
    """``personas``: where the people of synthetic conversations come from (hins.stages.personas)."""


class SynthesisConfig(TargetConfig):
    """``synthesis``: the backend that writes synthetic conversations (procedural, or an LLM endpoint)."""


class TopicsConfig(TargetConfig):
    """``topics``: the clustering that labels every message with a topic (hins.stages.topics)."""

    method: Literal["oracle", "session", "kmeans", "agglomerative", "llm"]
    features: Literal["model", "tfidf"] = "model"

    @property
    def uses_model(self) -> bool:
        """Whether the model must load for the topics (and keys their artifact): only the clustering methods
        on the model's embeddings (not on TF-IDF features); the generator's, the sessions' and the LLM's labels
        need none."""
        return self.method in ("kmeans", "agglomerative") and self.features == "model"


PROMPTS_DIR = Path(__file__).parents[1] / "synthesis" / "prompts"


class LLMEndpointConfig(_Strict):
    """An OpenAI-compatible chat endpoint and how hard to drive it. The API key is read from the
    environment variable named by ``api_key_env``, never from the config."""

    base_url: str = Field(pattern=r"^https?://\S+$")
    model: str = Field(min_length=1)
    api_key_env: str | None = "OPENAI_API_KEY"  # a variable's name (checked by _no_secret)
    concurrency: int = Field(ge=1, le=4096)
    requests_per_second: float | None = Field(default=None, gt=0)  # None: no rate limit
    max_retries: int = Field(ge=0)  # transport retries (429, 5xx, timeouts, dropped connections)
    max_repairs: int = Field(ge=0)  # re-asks with the validation error after an invalid answer
    timeout_s: float = Field(gt=0)
    backoff_s: float = Field(gt=0)
    max_backoff_s: float = Field(gt=0)
    temperature: float = Field(ge=0, le=2)
    max_tokens: int = Field(ge=16)
    json_mode: bool  # response_format=json_object (OpenAI, vLLM, Ollama support it)
    # Each step's answer schema sent in response_format, for servers that constrain sampling to it (a small
    # model then at least returns the answer's shape): "json_schema" = {"type": "json_schema", "json_schema":
    # {"name", "schema"}} (OpenAI, vLLM, Ollama, llama.cpp's llama-server); "json_object" = {"type":
    # "json_object", "schema"} (llama-cpp-python's server); None: no schema (json_mode alone).
    json_schema: Literal["json_schema", "json_object"] | None = None
    price_input_per_1k: float = Field(ge=0)  # USD per 1,000 prompt tokens, for the cost estimate
    price_output_per_1k: float = Field(ge=0)
    cache_path: str
    prompts: dict[str, str]

    REQUIRED_PROMPTS: ClassVar[tuple[str, ...]] = ("system", "repair")

    @field_validator("base_url", "model", mode="before")
    @classmethod
    def _given(cls, v: Any) -> Any:
        if v is None:
            raise ValueError("required for an LLM step (set it on the command line)")
        return v

    @field_validator("base_url", "api_key_env", mode="before")
    @classmethod
    def _no_secret(cls, v: Any, info: ValidationInfo) -> Any:
        problem = secret_problem(str(info.field_name), v)
        if problem:  # checked before the URL pattern, whose error would quote the value
            raise SecretValueError(problem)
        return v

    @staticmethod
    def _prompt_file(name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else PROMPTS_DIR / path

    def prompt_path(self, step: str) -> Path:
        return self._prompt_file(self.prompts[step])

    @field_validator("prompts")
    @classmethod
    def _prompt_files(cls, v: dict[str, str]) -> dict[str, str]:
        missing = [s for s in cls.REQUIRED_PROMPTS if s not in v]
        if missing:
            raise ValueError(f"missing file name(s) for step(s) {missing}")
        absent = {s: str(cls._prompt_file(name)) for s, name in v.items() if not cls._prompt_file(name).is_file()}
        if absent:
            raise ValueError(f"no such prompt file(s) {absent}")
        return v

    # How the answers are fetched, paid for and cached, not what they are.
    TRANSPORT: ClassVar[tuple[str, ...]] = ("api_key_env", "concurrency", "requests_per_second", "max_retries",
                                            "timeout_s", "backoff_s", "max_backoff_s", "price_input_per_1k",
                                            "price_output_per_1k", "cache_path")

    def unkeyed(self) -> set[str]:
        return set(self.TRANSPORT)

    def key(self) -> dict[str, Any]:
        return self.answer_settings()

    def answer_settings(self) -> dict[str, Any]:
        """What shapes the answers, for an artifact key: every setting but the TRANSPORT ones, the prompts by
        content (an edited prompt file makes new answers) and the base URL without credentials or query."""
        url = urlsplit(self.base_url)
        out = self.model_dump(exclude=set(self.TRANSPORT) | {"prompts"})
        netloc = (url.hostname or "") + (f":{url.port}" if url.port else "")
        out["base_url"] = urlunsplit((url.scheme, netloc, url.path, "", ""))
        out["prompts"] = {step: sha256_file(self.prompt_path(step)) for step in sorted(self.prompts)}
        return out

    @model_validator(mode="after")
    def _backoff(self) -> "LLMEndpointConfig":
        if self.max_backoff_s < self.backoff_s:
            raise ValueError(f"max_backoff_s ({self.max_backoff_s}) must be >= backoff_s ({self.backoff_s})")
        return self


class LLMSynthesisConfig(LLMEndpointConfig):
    """``synthesis=openai``: every LLM step of the paper (events, brief, conversation, topics, queries)."""

    events_per_person: int = Field(ge=4, le=12)  # >= 4 so the four kinds of event fit
    turns: int = Field(ge=5, le=60)
    dry_run: bool  # report the calls, tokens and cost of the whole run's LLM steps, and spend nothing

    REQUIRED_PROMPTS = ("system", "repair", "events", "brief", "conversation", "topics", "queries")


class LLMTopicsConfig(LLMEndpointConfig):
    """``topics=llm``: the LLM clusters the messages of any source's conversations into labelled topics."""

    k_min: int = Field(ge=1)
    k_max: int = Field(ge=1)
    dry_run: bool = False  # report the calls, tokens and cost of the whole run's LLM steps, and spend nothing

    REQUIRED_PROMPTS = ("system", "repair", "topics")

    @model_validator(mode="after")
    def _k_order(self) -> "LLMTopicsConfig":
        if self.k_min > self.k_max:
            raise ValueError(f"k_min ({self.k_min}) must be <= k_max ({self.k_max})")
        return self


class LLMQueriesConfig(_EvidenceRange, LLMEndpointConfig):
    """``queries=llm``: the LLM writes the training queries (2+2+2 per conversation, paper §3.4) for the
    conversations of any source, asked for and filtered to evidence_min-evidence_max ids. The source's own
    queries stay the evaluation queries of the held-out split (see hins.stages.splits)."""

    source: Literal["llm"]
    dry_run: bool = False  # report the calls, tokens and cost of the whole run's LLM steps, and spend nothing

    REQUIRED_PROMPTS = ("system", "repair", "topics", "queries")


# The queries group is the source's own queries unless it says ``source: llm`` (queries=llm).
QUERY_SOURCES = ("data", "llm")
AnyQueriesConfig = Annotated[
    Annotated[QueriesConfig, Tag("data")] | Annotated[LLMQueriesConfig, Tag("llm")],
    Discriminator(lambda v: (v.get("source", "data") if isinstance(v, dict) else getattr(v, "source", "data"))),
]

# Groups whose arguments have their own schema, by the _target_ that receives them.
_TARGET_SCHEMAS: dict[str, type[_Strict]] = {
    "hins.synthesis.llm.LLMSynthesizer": LLMSynthesisConfig,
    "hins.stages.topics_llm.LLMTopics": LLMTopicsConfig,
}


class RunConfig(_Strict):
    model_config = ConfigDict(extra="ignore", frozen=True)  # paths and hydra are checked apart
    seed: int
    name: str
    stop_after: Literal["data", "train"]
    data: DataConfig
    queries: AnyQueriesConfig
    negatives: NegativesConfig
    model: ModelConfig
    loss: LossConfig
    trainer: TrainerConfig
    eval: EvalConfig
    logger: LoggerConfig
    personas: PersonasConfig
    synthesis: SynthesisConfig
    topics: TopicsConfig

    @model_validator(mode="after")
    def _evaluated_split(self) -> "RunConfig":
        split, data = self.eval.split, self.data
        if isinstance(data, SyntheticData) and getattr(data.split, split) == 0:
            raise ValueError(f"eval.split={split} but data.split.{split}=0: that split holds no conversation")
        if isinstance(data, LocomoData) and split == "val" and data.val_conversations == 0:
            raise ValueError("eval.split=val but data.val_conversations=0: LoCoMo folds hold no validation "
                             "conversation")
        return self


_UNION_TAGS = {"data": DATA_SOURCES, "queries": QUERY_SOURCES}


def _format(err: ValidationError, group: str | None = None) -> str:
    lines = []
    for e in err.errors():
        # The unions add their tag (synthetic / locomo, data / llm) to the path; users know the key without it.
        tags = _UNION_TAGS.get(str(e["loc"][0]), ()) if e["loc"] else ()
        loc = [p for i, p in enumerate(e["loc"]) if not (i == 1 and p in tags)]
        key = ".".join(str(p) for p in ([group] if group else []) + loc)
        got, msg = e.get("input"), e["msg"].removeprefix("Value error, ")
        # Never quote a secret: one a validator found, or one under a key that is not in the schema (api_key: ...).
        secret = isinstance(e.get("ctx", {}).get("error"), SecretValueError) or bool(secret_problem(key, got))
        shown = "" if secret or isinstance(got, dict) or f"got {got!r}" in msg else f" (got {got!r})"
        if secret:  # the value is never quoted; say where the key belongs instead
            msg += f"; {secret_advice(key)}"
        lines.append(scrub(f"  {key + ': ' if key else ''}{msg}{shown}"))  # a key pasted as a variable's name
    return "invalid config:\n" + "\n".join(lines)


def _check_target(cfg: DictConfig, group: str, drop: tuple[str, ...] = (), **kwargs: Any) -> None:
    """Build the group's object once (constructors are cheap), so a wrong argument fails now."""
    node = OmegaConf.to_container(cfg[group], resolve=True)
    assert isinstance(node, dict)
    for key in drop:
        node.pop(key, None)
    try:
        instantiate(node, **kwargs)
    except (InstantiationException, TypeError, ValueError) as err:
        cause = err.__cause__ or err
        raise ConfigError(f"invalid config: {group} ({node.get('_target_')}): {cause}") from None


def check_devices(run: RunConfig) -> None:
    """The machine has what trainer.accelerator asks for (a config can be right and this machine wrong for it)."""
    if run.trainer.accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"trainer.accelerator={run.trainer.accelerator}: no CUDA GPU is visible here "
                              "(torch.cuda.is_available() is False); use trainer=cpu")


# Top-level keys beside RunConfig's: checked apart (paths) or Hydra's own.
_OTHER_KEYS = ("paths", "hydra")


def _unknown_keys(cfg: DictConfig, extra: tuple[str, ...]) -> None:
    """A top-level key no schema knows (``+seeed=7``) would be ignored silently: refuse it, naming it."""
    known = {*RunConfig.model_fields, *_OTHER_KEYS, *extra}
    unknown = sorted(str(k) for k in cfg if k not in known)
    if unknown:
        raise ConfigError(f"invalid config: unknown top-level key(s) {unknown} (a misspelling added with '+'?); "
                          f"the keys are {sorted(known - {'hydra'})}")


def _foreign_data_keys(cfg: DictConfig) -> None:
    """Keys of another data source under ``data`` (an experiment written for data=synthetic composed with
    data=locomo, say): name who set them instead of only calling them extra."""

    data = cfg.get("data")
    schema = DATA_SCHEMAS.get(str(data.get("source"))) if OmegaConf.is_dict(data) else None
    if schema is None:
        return
    owners = {k: [s for s, m in DATA_SCHEMAS.items() if k in m.model_fields]
              for k in data if k not in schema.model_fields}
    foreign = [k for k, sources in owners.items() if sources]
    if not foreign:
        return
    sources = "/".join(sorted({s for k in foreign for s in owners[k]}))
    keys, source = ", ".join(f"data.{k}" for k in foreign), data.source
    why = f"settings of data={sources}, not of data={source}"
    if HydraConfig.initialized():
        hydra_cfg = HydraConfig.get()
        given = {o.split("=", 1)[0].lstrip("+~") for o in hydra_cfg.overrides.task}
        experiment = hydra_cfg.runtime.choices.get("experiment")
        if experiment and not all(f"data.{k}" in given for k in foreign):
            why = (f"set by +experiment={experiment}, which is made for data={sources}; they do not apply to "
                   f"data={source} (leave out data={source}, or use an experiment made for data={source})")
    raise ConfigError(f"invalid config: {keys}: {why}")


def validate(cfg: DictConfig, extra: tuple[str, ...] = ()) -> RunConfig:
    """Check the whole composed config; raise ConfigError naming each bad key. ``extra``: top-level keys of a
    command's own (``calibrate``), checked by that command."""
    _unknown_keys(cfg, extra)
    try:
        if "paths" in cfg and HydraConfig.initialized():  # ${hydra:runtime.cwd} resolves only inside a Hydra run
            OmegaConf.to_container(cfg.paths, resolve=True)
        _foreign_data_keys(cfg)
        return _validate(cfg)
    except OmegaConfBaseException as err:  # an interpolation that does not resolve: name=${x}, ${oc.env:UNSET}
        raise ConfigError(f"invalid config: {getattr(err, 'full_key', None) or 'config'}: "
                          f"{str(err).splitlines()[0]}") from None


def _validate(cfg: DictConfig) -> RunConfig:
    groups = [k for k in RunConfig.model_fields if k in cfg and OmegaConf.is_config(cfg[k])]
    # missing_keys gives full paths from the root.
    missing = sorted(str(key) for g in groups for key in OmegaConf.missing_keys(cfg[g]))
    if missing:
        raise ConfigError("invalid config: missing value(s) for " + ", ".join(missing) + " (set them on the command line)")
    try:
        plain = {k: OmegaConf.to_container(cfg[k], resolve=True) if OmegaConf.is_config(cfg[k]) else cfg[k]
                 for k in RunConfig.model_fields if k in cfg}
        run = RunConfig.model_validate(plain)
    except ValidationError as err:
        raise ConfigError(_format(err)) from None
    run.data.check_files()
    for i, path in enumerate(run.eval.extra):
        if not Path(path).is_file():
            raise ConfigError(f"invalid config: eval.extra[{i}]: no file at {path!r} (each entry is a LoCoMo-format "
                              "JSON file that every trained model is also evaluated on)")
    for group in ("synthesis", "topics"):
        try:
            getattr(run, group).schema()
        except ValidationError as err:
            raise ConfigError(_format(err, group)) from None
    _check_target(cfg, "personas", seed=run.seed)
    _check_target(cfg, "synthesis", seed=run.seed)
    _check_target(cfg, "topics", drop=("method", "features"))
    _check_target(cfg, "loss")
    return run
