"""The LLM that answers evaluation questions from retrieved memories (LoCoMo QA, PersonaMem choices).

It goes through the same machinery as synthesis (hins/synthesis/llm.py over llm_client.py): the durable call
cache, retries, concurrency, token usage and cost, and the re-ask of an answer that breaks its schema. Only the
prompts differ: they live in hins/evaluation/prompts/ (package data), and relative names in ``prompts`` resolve there.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from omegaconf import OmegaConf
from pydantic import BaseModel, Field, ValidationError

from hins.core.config import ConfigError, LLMEndpointConfig, _format
from hins.synthesis.llm import _run_all, _Steps

EVAL_PROMPTS_DIR = Path(__file__).parent / "prompts"
DEFAULT_PROMPTS = {"system": "system.md", "repair": "repair.md", "qa_answer": "qa_answer.md",
                   "personamem_choice": "personamem_choice.md"}


class LLMNotConfigured(ConfigError):
    """An evaluation that needs an LLM was asked for, and its endpoint config is absent or incomplete."""


class EvalLLMConfig(LLMEndpointConfig):
    """An OpenAI-compatible endpoint answering evaluation questions; the prompts default to hins/evaluation/prompts/."""

    prompts: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_PROMPTS))

    REQUIRED_PROMPTS: ClassVar[tuple[str, ...]] = tuple(DEFAULT_PROMPTS)

    @staticmethod
    def _prompt_file(name: str) -> Path:
        path = Path(name).expanduser()
        return path if path.is_absolute() else EVAL_PROMPTS_DIR / path


def eval_llm_settings(node: EvalLLMConfig | Mapping[str, Any] | None, key: str) -> EvalLLMConfig:
    """The endpoint settings under config key ``key``, checked; refuses (naming the key) when they are absent."""
    if isinstance(node, EvalLLMConfig):
        return node
    hint = (f"set {key}.base_url and {key}.model to an OpenAI-compatible endpoint (OpenAI, vLLM, Ollama), "
            "or run the retrieval-only evaluation, which needs no LLM")
    if node is None:
        raise LLMNotConfigured(f"{key} is not configured: answering from memories needs an LLM; {hint}")
    if OmegaConf.is_config(node):
        missing = sorted(f"{key}.{k}" for k in OmegaConf.missing_keys(node))
        if missing:
            raise LLMNotConfigured(f"missing value(s) for {', '.join(missing)}: {hint}")
        node = OmegaConf.to_container(node, resolve=True)  # type: ignore[assignment]
    for field in ("base_url", "model"):
        if node.get(field) is None:  # type: ignore[union-attr]
            raise LLMNotConfigured(f"{key}.{field} is not set: {hint}")
    try:
        return EvalLLMConfig.model_validate(node)
    except ValidationError as err:
        raise ConfigError(_format(err, key)) from None


def ask_all(settings: EvalLLMConfig, step: str, inputs: Sequence[dict[str, Any]], schema: type[BaseModel],
            context: Callable[[int], dict[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
    """Prompt ``step`` rendered with each input, all asked concurrently; an answer breaking ``schema`` (validated
    with ``context(i)``) is re-asked up to ``max_repairs`` times, then given up (None) and counted.
    Returns the parsed answers in input order and the run's stats (model, invalid/repaired/dropped, usage)."""
    steps = _Steps(settings)

    async def one(i: int) -> Any:
        return await steps.ask(step, schema, steps.render(step, inputs[i]), context(i))

    answers, usage = _run_all(steps, f"{step} ({settings.model})", range(len(inputs)), one)
    return answers, steps.stats(usage)
