"""The fake OpenAI server (tests/fake_openai.py) answering one evaluation prompt (hins/evaluation/prompts/) by a script."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests import fake_openai


@contextmanager
def answering(monkeypatch: pytest.MonkeyPatch, step: str, answer: Callable[[dict[str, Any]], dict[str, Any]]
              ) -> Iterator[fake_openai.FakeOpenAI]:
    """A server whose answer to ``step`` is ``answer(the prompt's JSON input)``; other steps as usual."""
    usual = fake_openai.valid_answer

    def valid(s: str, task: str, data: dict[str, Any]) -> dict[str, Any]:
        return answer(data) if s == step else usual(s, task, data)

    monkeypatch.setattr(fake_openai, "valid_answer", valid)
    server = fake_openai.FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


def llm_node(server: fake_openai.FakeOpenAI, tmp_path: Path, **over: Any) -> dict[str, Any]:
    """An evaluation endpoint config pointed at the server (what a user's YAML node would hold)."""
    return {"base_url": server.url, "model": "fake-model", "api_key_env": None, "concurrency": 4, "max_retries": 2,
            "max_repairs": 1, "timeout_s": 5.0, "backoff_s": 0.02, "max_backoff_s": 0.1, "temperature": 0.0,
            "max_tokens": 64, "json_mode": True, "price_input_per_1k": 0.0, "price_output_per_1k": 0.0,
            "cache_path": str(tmp_path / "eval_calls.jsonl"), **over}
