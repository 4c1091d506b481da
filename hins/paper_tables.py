"""The paper's evaluation tables for a base and a trained model, in one command (hins/conf/paper_tables.yaml).

``python -m hins.paper_tables models.trained=outputs/runs/<name>/<time>/model`` writes, under
``outputs/paper_tables/<name>/<time>/``, ``tables.md`` and ``results.json`` (plus per-question records):

* **Table 1** (LoCoMo): for each memory system (``dense``: plain sentence-transformers; ``mem0``: real Mem0 with
  our model as its embedder; ``memoryos``), each model's evidence Recall@k per category and question-weighted
  over categories 1-4; with ``answer=true`` and an ``llm`` endpoint, F1 / BLEU-1 of the answers in the paper's
  layout. ``mode=full`` lets Mem0 build its memories with the LLM (the paper's setting) instead of storing turns.
* **Table 2** (PersonaMem): multiple-choice accuracy per question type and total (``personamem.enabled=true``).
* **Table 5** (MTEB): STS12, ImdbClassification, ... (``mteb.enabled=true``, needs ``hins[mteb]`` and the Hub).

Everything is checked before any model is loaded: a section that needs an LLM or the Hub and cannot have one
stops the run with the config key to set, rather than filling a table with something else. Each finished
(system, model) result is written at once, so a failure later loses none of them.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any, Literal

import hydra
from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hins.core.cli import CONFIG_PATH, job_started, run_hydra
from hins.core.logging_utils import SecretValueError, no_secrets_on_the_command_line, secret_advice, secret_problem
from hins.core.records import check_passage_template

log = logging.getLogger("hins.paper_tables")

SYSTEMS = ("dense", "mem0", "memoryos")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocomoSection(_Section):
    path: str | None = None
    conversations: list[str] | None = None
    # Table 1's four (1 multi-hop, 2 temporal, 3 open-domain, 4 single-hop); 5 (adversarial) has no answer there
    categories: list[Literal[1, 2, 3, 4]] = Field(default_factory=lambda: [1, 2, 3, 4], min_length=1)


class PersonaMemSection(_Section):
    enabled: bool = False
    split: str = "32k"
    questions: str | None = None
    contexts: str | None = None
    k: int = Field(10, ge=1)
    choose: Literal["embedding", "llm"] = "embedding"


class MTEBSection(_Section):
    enabled: bool = False
    tasks: list[str] | None = None  # None: the paper's five (hins.evaluation.mteb_eval.PAPER_TASKS)


class PaperTablesConfig(_Section):
    name: str
    models: dict[str, str] = Field(min_length=1)
    systems: list[Literal["dense", "mem0", "memoryos"]] = Field(min_length=1)
    mode: Literal["retrieval", "full"] = "retrieval"
    top_k: int = Field(30, ge=1)
    answer: bool = False
    locomo: LocomoSection = Field(default_factory=LocomoSection)
    passage_template: str = "{speaker}: {text}"
    llm: dict[str, Any] | None = None
    personamem: PersonaMemSection = Field(default_factory=PersonaMemSection)
    mteb: MTEBSection = Field(default_factory=MTEBSection)

    @property
    def llm_uses(self) -> list[str]:
        """What in this run needs the LLM endpoint (empty: none)."""
        return [why for why, on in (("answer=true", self.answer), ("mode=full", self.mode == "full"),
                                    ("systems containing memoryos", "memoryos" in self.systems),
                                    ("personamem.choose=llm", self.personamem.enabled and self.personamem.choose == "llm"))
                if on]

    @field_validator("llm")
    @classmethod
    def _no_secret(cls, v: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, value in (v or {}).items():
            problem = secret_problem(str(key), value)
            if problem:  # the value is never quoted
                raise SecretValueError(f"llm.{key} {problem}; {secret_advice(f'llm.{key}')}")
        return v

    @field_validator("passage_template")
    @classmethod
    def _template(cls, v: str) -> str:
        if "{speaker}" not in check_passage_template(v):
            raise ValueError(f"must contain {{speaker}}, got {v!r}")
        return v

    @model_validator(mode="after")
    def _needs_llm(self) -> "PaperTablesConfig":
        wants = self.llm_uses
        if wants and not (self.llm and self.llm.get("base_url") and self.llm.get("model")):
            raise ValueError(f"{', '.join(wants)} need(s) an LLM endpoint: set llm.base_url and llm.model "
                             "(and llm.api_key_env, the NAME of the variable holding the key, if it needs one)")
        if self.mode == "full" and "dense" in self.systems:
            raise ValueError("mode=full builds memories with each system's LLM; the dense system has none: "
                             "drop it from systems")
        return self


def check_config(cfg: DictConfig) -> PaperTablesConfig:
    """The run's settings, validated; raises ConfigError naming each bad key."""
    from hins.core.config import ConfigError

    from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

    # paths / hydra are Hydra's business (and resolve only inside a Hydra run); the rest is ours.
    try:
        data = {k: OmegaConf.to_container(v, resolve=True, throw_on_missing=True) if OmegaConf.is_config(v) else v
                for k, v in cfg.items() if k not in ("paths", "hydra")}
    except MissingMandatoryValue as err:
        raise ConfigError(f"missing value for {err.full_key} (e.g. models.trained=<model dir>)") from None
    except OmegaConfBaseException as err:  # an interpolation that does not resolve: name=${x}, ${oc.env:UNSET}
        raise ConfigError(f"invalid paper_tables config: {err.full_key or 'config'}: {str(err).splitlines()[0]}"
                          ) from None
    try:
        params = PaperTablesConfig.model_validate(data)
    except ValidationError as err:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg'].removeprefix('Value error, ')}"
                 for e in err.errors()]
        raise ConfigError("invalid paper_tables config:\n  " + "\n  ".join(lines)) from None
    if params.llm_uses:  # every llm.* value checked now, not after the memories are built
        from hins.evaluation.eval_llm import eval_llm_settings

        eval_llm_settings(params.llm, "llm")
    return params


def resolve_model(ref: str) -> str:
    """A model reference as something sentence-transformers (and so Mem0, MemoryOS) loads by path or name."""
    from hins.training.model import ModelLoadError, _require_hub, package_model_dir

    if ref.startswith("package:"):
        return str(package_model_dir(ref.removeprefix("package:")))
    path = Path(ref).expanduser()
    if path.exists():
        if not (path / "modules.json").is_file():
            raise ModelLoadError(f"{path}: not a sentence-transformers directory (no modules.json); point at the "
                                 "model/ folder a hins run writes")
        return str(path.resolve())
    if ref.count("/") == 1 and not ref.startswith((".", "/")):
        _require_hub(ref)
        return ref
    raise ModelLoadError(f"model {ref!r}: no such directory, and not a Hub name (owner/name) either")


def _encoder(location: str) -> Any:
    """A hins Embedder over a model directory or Hub name, with the query prompt its directory declares."""
    from hins.training.model import ModelSpec, load_embedder

    prefix = ""
    st_config = Path(location) / "config_sentence_transformers.json"
    if st_config.is_file():
        prefix = (json.loads(st_config.read_text()).get("prompts") or {}).get("query", "")
    source = "dir" if Path(location).is_dir() else "hub"
    return load_embedder(ModelSpec(name=location, source=source, path=location, query_prefix=prefix))


def preflight(params: PaperTablesConfig) -> None:
    """Refuse, before any work, the sections that need what is not here (the Hub, the mteb package)."""
    from hins.core.hub import hub_unreachable
    from hins.evaluation.mteb_eval import require_mteb
    from hins.evaluation.personamem import PersonaMemUnavailable

    pm = params.personamem
    if pm.enabled and not (pm.questions and pm.contexts) and (reason := hub_unreachable()):
        raise PersonaMemUnavailable(f"personamem.enabled=true fetches PersonaMem {pm.split} from the Hugging Face Hub "
                                    f"and {reason}: set personamem.questions and personamem.contexts to local files")
    for path in (pm.questions, pm.contexts):
        if pm.enabled and path and not Path(path).is_file():
            raise PersonaMemUnavailable(f"personamem: {path} is not a file")
    if params.mteb.enabled:
        require_mteb()
    if "mem0" in params.systems:
        from hins.evaluation.memory.mem0_adapter import _import_mem0

        _import_mem0()
    if "memoryos" in params.systems:
        from hins.evaluation.memory.memoryos_adapter import _import_memoryos

        _import_memoryos()


def make_memory(system: str, location: str, store: Path, params: PaperTablesConfig) -> Any:
    if system == "dense":
        from hins.evaluation.memory.dense import DenseMemory

        return DenseMemory(location, passage_template=params.passage_template)
    if system == "mem0":
        from hins.evaluation.memory.mem0_adapter import Mem0Memory

        return Mem0Memory(location, store, mode=params.mode, llm=params.llm, passage_template=params.passage_template)
    from hins.evaluation.memory.memoryos_adapter import MemoryOSMemory

    return MemoryOSMemory(location, store, llm=params.llm, passage_template=params.passage_template)


def locomo_conversations(params: PaperTablesConfig) -> tuple[Any, list[Any]]:
    """The LoCoMo corpus and the conversations Table 1 stores, read before any work: a bad file raises
    LocomoFormatError, an unknown ``locomo.conversations`` id ConfigError."""
    from hins.core.config import ConfigError
    from hins.evaluation.locomo import default_path, load_locomo

    corpus = load_locomo(params.locomo.path or default_path())
    wanted = params.locomo.conversations
    convs = [c for c in corpus.conversations if wanted is None or c.cid in wanted]
    if wanted is not None and len(convs) != len(set(wanted)):
        known = sorted(c.cid for c in corpus.conversations)
        raise ConfigError(f"locomo.conversations: {sorted(set(wanted) - {c.cid for c in convs})} are not in "
                          f"{corpus.path}; known: {known}")
    return corpus, convs


def table1(params: PaperTablesConfig, models: dict[str, str], out: Path, corpus: Any, convs: list[Any]
           ) -> tuple[str, dict[str, Any]]:
    from hins.evaluation.qa import evaluate_qa, qa_table
    from hins.stages.runner import progress_bar

    sections, summary = [], {}
    for system in params.systems:
        results = {}
        for label, location in models.items():
            memory = make_memory(system, location, out / "stores" / system / label, params)
            try:
                with progress_bar(f"{system} / {label}: storing conversations", len(convs)) as advance:
                    for conv in convs:
                        memory.add_conversation(conv)
                        advance()
                result = evaluate_qa(corpus, memory.search_many, params.top_k, params.llm, answer=params.answer,
                                     categories=params.locomo.categories, cids=[c.cid for c in convs],
                                     llm_key="llm")
            finally:
                memory.close()
            results[label] = result
            record = result.to_dict()
            items = record.pop("items")
            (out / "items").mkdir(exist_ok=True)
            with open(out / "items" / f"{system}__{label}.jsonl", "w") as f:
                f.writelines(json.dumps(i) + "\n" for i in items)
            summary[f"{system}/{label}"] = record
            (out / "results.json").write_text(json.dumps({"table1": summary}, indent=2, default=str))
            log.info("%s / %s: evidence Recall@%d %.4f over %d questions", system, label, params.top_k,
                     result.overall.recall, result.overall.n)
        sections.append(f"### {system} ({params.mode} mode, top {params.top_k})\n\n{qa_table(results)}\n\n"
                        + paired_lines(results))
    head = (f"## Table 1: LoCoMo ({len(convs)} conversations, categories {params.locomo.categories})\n\n")
    return head + "\n\n".join(sections), summary


def paired_lines(results: dict[str, Any]) -> str:
    """Each model against the first, per question (a question bootstrap with the models fixed: these are given
    model directories, not recipes with training noise): the negative mix moves recall by points, and only a
    paired comparison tells such differences from noise."""
    import numpy as np

    from hins.studies.aggregate import fixed_models_bootstrap, format_p

    labels = list(results)
    base = {i.qid: i for i in results[labels[0]].items}
    lines = []
    for label in labels[1:]:
        items = results[label].items
        metrics = ["recall"] + (["f1", "bleu1"] if results[label].answered and results[labels[0]].answered else [])
        for metric in metrics:
            diffs = np.array([getattr(i, metric) - getattr(base[i.qid], metric) for i in items])
            d = fixed_models_bootstrap(diffs)
            lines.append(f"- {label} − {labels[0]}, {metric}: {100 * d['mean']:+.2f} points "
                         f"[{100 * d['ci_low']:+.2f}, {100 * d['ci_high']:+.2f}], p {format_p(d['p'])} "
                         f"(question bootstrap over {d['n']} questions, models fixed)")
    return "\n".join(lines)


def table2(params: PaperTablesConfig, models: dict[str, str]) -> tuple[str, dict[str, Any]]:
    from hins.evaluation.personamem import evaluate_personamem, fetch_personamem, load_personamem, personamem_table

    pm = params.personamem
    if pm.questions and pm.contexts:
        questions, contexts = pm.questions, pm.contexts
    else:
        questions, contexts = fetch_personamem(pm.split)  # raises PersonaMemUnavailable offline, with advice
    data = load_personamem(questions, contexts)
    results = {label: evaluate_personamem(data, _encoder(location), pm.k, choose=pm.choose, llm=params.llm,
                                          llm_key="llm")
               for label, location in models.items()}
    title = f"## Table 2: PersonaMem ({len(data.questions)} questions, top {pm.k}, choice by {pm.choose})\n\n"
    return title + personamem_table(results), {label: r.to_dict() for label, r in results.items()}


def table5(params: PaperTablesConfig, models: dict[str, str]) -> tuple[str, dict[str, Any]]:
    from hins.evaluation.mteb_eval import evaluate_mteb, mteb_table

    from hins.evaluation.mteb_eval import PAPER_TASKS

    tasks = params.mteb.tasks or list(PAPER_TASKS)
    results = {label: evaluate_mteb(location, tasks) for label, location in models.items()}
    return "## Table 5: MTEB\n\n" + mteb_table(results), results


@no_secrets_on_the_command_line
@hydra.main(config_path=CONFIG_PATH, config_name="paper_tables", version_base="1.3")
def main(cfg: DictConfig) -> None:
    job_started()
    from hydra.core.hydra_config import HydraConfig

    from hins.core.config import ConfigError
    from hins.evaluation.locomo import LocomoFormatError
    from hins.evaluation.memory.mem0_adapter import MemoryUnavailable
    from hins.training.model import ModelLoadError
    from hins.evaluation.mteb_eval import MTEBUnavailable
    from hins.evaluation.personamem import PersonaMemUnavailable

    try:
        params = check_config(cfg)
        models = {label: resolve_model(ref) for label, ref in params.models.items()}
        preflight(params)
        corpus, convs = locomo_conversations(params)
    except (ConfigError, LocomoFormatError, ModelLoadError, MemoryUnavailable, MTEBUnavailable,
            PersonaMemUnavailable) as err:
        log.error("%s", err)
        sys.exit(2)
    out = Path(HydraConfig.get().runtime.output_dir)
    results: dict[str, Any] = {"models": models}
    parts = [f"# Paper tables: {', '.join(f'{k} = {v}' for k, v in models.items())}"]
    text, results["table1"] = table1(params, models, out, corpus, convs)
    parts.append(text)
    for enabled, build, key in ((params.personamem.enabled, table2, "table2"), (params.mteb.enabled, table5, "table5")):
        if enabled:
            text, results[key] = build(params, models)
            parts.append(text)
        (out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "tables.md").write_text("\n\n".join(parts) + "\n")
    print("\n\n".join(parts))
    log.info("tables: %s", out / "tables.md")


def entry() -> None:
    """The ``hins-paper-tables`` command (a console script of pyproject.toml) and ``python -m hins.paper_tables``."""
    run_hydra(main)


if __name__ == "__main__":
    entry()
