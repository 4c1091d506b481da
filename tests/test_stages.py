"""Stages as declared units: every artifact key is derived from the settings a stage declares, its inputs' keys and
its code version, so changing a setting a stage reads changes its key and every key after it, and changing one it
does not read reuses its artifact. Checked for every setting of the run's config (each leaf of ``RunConfig``)
against the real settings models of the stages, on configs that between them hold every stage."""

from __future__ import annotations

import shutil
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from hins.core.config import RunConfig, validate
from hins.pipeline import keys_of, stages_of
from hins.stages.base import Stage, stage_key
from hins.stages.encode import ModelSettings
from tests.conftest import ROOT
from tests.test_config import _compose

FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"
LLM = ["base_url=http://127.0.0.1:9/v1", "model=m"]
CONFIGS = {
    "synthetic": ["+experiment=smoke"],
    "clustered and mined": ["+experiment=smoke", "topics=kmeans", "negatives=mined"],
    "tfidf and calibrated": ["+experiment=smoke", "topics=agglomerative", "topics.features=tfidf",
                             "negatives=calibrated"],
    "locomo": ["+experiment=locomo_cv", "model=tiny_random", f"data.path={FIXTURE}"],
    "llm": ["+experiment=smoke", "synthesis=openai", *(f"synthesis.{o}" for o in LLM), "topics=llm", "queries=llm"],
}


def leaves(value: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(value, BaseModel):
        out = []
        fields = type(value).model_fields
        for name in fields:
            out += leaves_of(getattr(value, name), f"{prefix}{name}", fields[name].annotation)
        for name, extra in (value.model_extra or {}).items():
            out += leaves_of(extra, f"{prefix}{name}", None)
        return out
    raise TypeError(value)


def leaves_of(value: Any, path: str, annotation: Any) -> list[tuple[str, Any, Any]]:
    if isinstance(value, BaseModel):
        return leaves(value, f"{path}.")
    return [(path, value, annotation)]


def declared(settings: BaseModel, prefix: str = "") -> set[str]:
    """The setting paths a settings model keys on: every field but its ``unkeyed`` ones, nested models by theirs."""
    skip = settings.unkeyed()  # type: ignore[attr-defined]
    out: set[str] = set()
    names = [*type(settings).model_fields, *(settings.model_extra or {})]
    for name in names:
        if name in skip:
            continue
        value = getattr(settings, name)
        path = f"{prefix}{name}"
        out |= declared(value, f"{path}.") if isinstance(value, BaseModel) else {path}
    return out


def _choices(annotation: Any) -> list[Any]:
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    return [c for arg in typing.get_args(annotation) for c in _choices(arg)]


def candidates(path: str, value: Any, annotation: Any, tmp_path: Path) -> list[Any]:
    """Other values a setting could take (the first that validates is used)."""
    if path == "data.path":  # the same file's content at another path: the same data
        copy = tmp_path / "same.json"
        shutil.copy(value, copy)
        return [str(copy)]
    if isinstance(value, bool):
        return [not value]
    literal = [c for c in _choices(annotation) if c != value]
    if literal and isinstance(value, str):
        return literal
    if isinstance(value, int):
        return [value + 1, value - 1, value + 2]
    if isinstance(value, float):
        return [value * 0.5 if value else 0.1, value + 0.01, value * 2]
    if isinstance(value, str):
        return [value + "_x"]
    if isinstance(value, list) and value:
        return [value[:-1], value[::-1], [*value, value[0]]]
    if isinstance(value, dict) and value:
        keys = list(value)
        if all(isinstance(v, (int, float)) for v in value.values()):
            moved = {**value, keys[0]: value[keys[0]] + 0.1, keys[-1]: value[keys[-1]] - 0.1}
            return [moved, {**value, keys[0]: value[keys[0]] + 1}, *literal]
        if len(keys) > 1:
            return [{**value, keys[0]: value[keys[1]]}]
    return literal


def _set(node: dict, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value


def changes(run: RunConfig, path: str, value: Any, annotation: Any, tmp_path: Path) -> list[dict]:
    """The run's settings with the one at ``path`` changed, in the ways it can be; a share that must sum to 1 with
    its siblings (data.split) moves to a sibling."""
    out = []
    for candidate in candidates(path, value, annotation, tmp_path):
        node = run.model_dump()
        _set(node, path, candidate)
        out.append(node)
        if isinstance(value, float):
            parent, last = path.rsplit(".", 1)
            siblings = run.model_dump()
            for part in parent.split("."):
                siblings = siblings[part]
            for other in [k for k, v in siblings.items() if k != last and isinstance(v, float)]:
                node = run.model_dump()
                _set(node, path, candidate)
                _set(node, f"{parent}.{other}", siblings[other] + value - candidate)
                out.append(node)
    return out


# The tag that chooses a union's schema (another data source, another queries stage) has no other value in it.
TAGS = {"data.source", "queries.source"}


def graph(run: RunConfig, fold: int | None) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """Per stage (the base model included): the settings it declares, and the stages it consumes."""
    stages: list[Stage[Any]] = stages_of(run, fold)
    settings = {"model": declared(ModelSettings.of(run)), **{s.name: declared(s.settings) for s in stages}}
    inputs = {"model": set(), **{s.name: set(s.inputs) for s in stages}}
    return settings, inputs


def downstream(changed: set[str], inputs: dict[str, set[str]]) -> set[str]:
    out = set(changed)
    while True:
        more = {s for s, ins in inputs.items() if ins & out} - out
        if not more:
            return out
        out |= more


def keys(run: RunConfig, fold: int | None) -> dict[str, str]:
    from hins.stages.encode import model_key

    return {**keys_of(run, fold), "model": model_key(run)}


def check_every_setting(run: RunConfig, tmp_path: Path) -> tuple[set[str], set[str]]:
    """Change each setting of ``run`` in turn (the first way of changing it that validates) and compare every key
    with the run's: exactly the stages that declare the setting, and the stages after them, get new keys. Returns
    the settings the stages declare and those a change was tried for."""
    fold = 0 if run.data.source == "locomo" else None
    before = keys(run, fold)
    settings, inputs = graph(run, fold)
    tried: set[str] = set()
    for path, value, annotation in leaves(run):
        for node in changes(run, path, value, annotation, tmp_path):
            try:
                changed_run = RunConfig.model_validate(node)
                after = keys(changed_run, fold)
            except (ValidationError, ValueError):
                continue
            readers = {s for s, paths in settings.items() if path in paths}
            expected = downstream(readers, inputs)
            changed = {s for s in before if s in after and after[s] != before[s]}
            common = {s for s in before if s in after}
            assert changed == expected & common, (path, changed, expected)
            tried.add(path)
            break
    values = {p: v for p, v, _ in leaves(run)}
    return {p for p in set().union(*settings.values()) if values.get(p) is not None}, tried


@pytest.mark.slow
def test_a_setting_changes_the_keys_of_the_stages_that_read_it_and_of_those_after_them_only(tmp_path):
    declared_anywhere: set[str] = set()
    tried_anywhere: set[str] = set()
    for name, overrides in CONFIGS.items():
        declared_here, tried = check_every_setting(validate(_compose(*overrides)), tmp_path)
        declared_anywhere |= declared_here
        tried_anywhere |= tried
    # Every setting a stage declares was changed in at least one of the configs (one whose other settings allow it:
    # negatives.strategy cannot change beside ratios=calibrated, for instance).
    untried = declared_anywhere - tried_anywhere - TAGS
    assert not untried, f"declared settings no change was tried for: {sorted(untried)}"
    assert len(tried_anywhere) > 80


def test_a_stage_key_holds_its_name_version_settings_and_inputs():
    run = validate(_compose("+experiment=smoke"))
    stages = stages_of(run, None)
    topics = stages[1]
    key = stage_key(topics, {"conversations": "a"})
    assert stage_key(topics, {"conversations": "b"}) != key
    bumped = type("Bumped", (type(topics),), {"version": topics.version + 1})(topics.settings)
    assert stage_key(bumped, {"conversations": "a"}) != key
    other = type(topics)(type(topics.settings).model_validate({"topics": {**topics.settings.topics.model_dump(
        by_alias=True), "method": "session"}}))
    assert stage_key(other, {"conversations": "a"}) != key
