"""MTEB (hins/evaluation/mteb_eval.py) where it cannot run: the messages saying what to install or that the Hub is needed;
and Table 5's layout, checked on the paper's own numbers."""

from __future__ import annotations

import importlib.util
import socket

import pytest

from hins.evaluation import mteb_eval
from hins.evaluation.mteb_eval import MTEBUnavailable, evaluate_mteb, main, mteb_table, require_mteb


@pytest.fixture
def mteb_installed(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(mteb_eval.importlib.util, "find_spec",
                        lambda name, *a: object() if name == "mteb" else real(name, *a))


def test_without_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(mteb_eval.importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MTEBUnavailable, match=r"optional package mteb: pip install 'hins\[mteb\]' \(mteb>=2,<3\)"):
        evaluate_mteb(tmp_path / "no-model")


def test_hub_offline(mteb_installed, tmp_path):
    with pytest.raises(MTEBUnavailable, match=r"datasets from the Hugging Face Hub, and HF_HUB_OFFLINE is set"):
        evaluate_mteb(tmp_path / "no-model")  # stops before loading the model


def test_hub_unreachable(mteb_installed, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def refuse(address, timeout=None):
        assert address[1] == 443 and timeout == 3.0
        raise OSError("Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(MTEBUnavailable, match=r":443 is not reachable \(Network is unreachable\)"):
        require_mteb()
    require_mteb(check_hub=False)  # the datasets may be cached: the caller's choice


def test_cli_reports_the_reason(mteb_installed, tmp_path, capsys):
    assert main(["--model-dir", str(tmp_path)]) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err


def test_table5_layout_on_the_papers_numbers():
    base = {"TwentyNewsgroupsClustering": 0.349190, "STS12": 0.658655, "ImdbClassification": 0.878528}
    after = {"TwentyNewsgroupsClustering": 0.369433, "STS12": 0.655377, "ImdbClassification": 0.862592}
    table = mteb_table({"base": base, "HiNS": after})
    assert table.splitlines()[0] == "| Task | base | HiNS | Diff. (HiNS) | Diff. % (HiNS) |"
    assert "| TwentyNewsgroupsClustering | 0.349190 | 0.369433 | +0.020243 | +5.80 % |" in table
    assert "| STS12 | 0.658655 | 0.655377 | -0.003278 | -0.50 % |" in table
    assert "| ImdbClassification | 0.878528 | 0.862592 | -0.015936 | -1.81 % |" in table
