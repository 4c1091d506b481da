from __future__ import annotations

import pytest

from hins.core.artifacts import ArtifactStore, config_key, verify


def _builder(calls):
    def build(tmp):
        calls.append(1)
        (tmp / "a.txt").write_text("hello")
    return build


def test_key_is_stable_and_sensitive():
    assert config_key({"a": 1, "b": [1, 2]}) == config_key({"b": [1, 2], "a": 1})
    assert config_key({"a": 1}) != config_key({"a": 2})


def test_build_once_then_reuse(tmp_path):
    store, calls = ArtifactStore(tmp_path), []
    load = lambda p: (p / "a.txt").read_text()  # noqa: E731
    assert store.get_or_build("s", "k", _builder(calls), load) == "hello"
    assert store.get_or_build("s", "k", _builder(calls), load) == "hello"
    assert len(calls) == 1


def test_tampered_artifact_is_rebuilt(tmp_path):
    store, calls = ArtifactStore(tmp_path), []
    load = lambda p: (p / "a.txt").read_text()  # noqa: E731
    store.get_or_build("s", "k", _builder(calls), load)
    (store.path("s", "k") / "a.txt").write_text("hellO")
    assert "checksum" in verify(store.path("s", "k"))
    assert store.get_or_build("s", "k", _builder(calls), load) == "hello"
    assert len(calls) == 2


def test_failed_build_leaves_nothing(tmp_path):
    store = ArtifactStore(tmp_path)

    def boom(tmp):
        (tmp / "half.txt").write_text("x")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        store.get_or_build("s", "k", boom, lambda p: None)
    assert not store.path("s", "k").exists()
    assert list((tmp_path / "s").iterdir()) == []
