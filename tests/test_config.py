from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.core.hydra_config import HydraConfig
from omegaconf import OmegaConf

from hins.config import ConfigError, validate
from tests.conftest import ROOT

CONF = str(ROOT / "conf")


def _compose(*overrides: str):
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose(config_name="config", overrides=list(overrides), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)  # paths resolve against the run's working directory, as in a run
        return cfg


LOCOMO = os.environ.get("HINS_LOCOMO", str(ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"))
needs_locomo = pytest.mark.skipif(not os.path.isfile(LOCOMO), reason="LoCoMo file not found (set HINS_LOCOMO)")


@pytest.mark.parametrize("experiment", ["smoke", "quickstart", "full"])
def test_experiments_compose_and_validate(experiment):
    run = validate(_compose(f"+experiment={experiment}"))
    assert run.name == experiment


def test_full_is_the_paper_recipe():
    run = validate(_compose("+experiment=full"))
    assert run.model.name == "BAAI/bge-small-en-v1.5" and run.model.pooling == "cls"
    assert run.trainer.batch_size == 512 and run.trainer.max_steps == 490
    assert run.trainer.lr == 2e-5 and run.trainer.warmup_ratio == 0.1 and run.trainer.precision == "bf16-mixed"
    assert run.loss.temperature == 0.02 and not run.loss.in_batch_negatives
    assert run.negatives.k == 15 and run.negatives.ratios == {"hard": 0.3, "medium": 0.3, "easy": 0.4}


@pytest.mark.parametrize("group", ["just_hard", "no_medium", "no_easy", "uniform", "hins", "mined", "calibrated_locomo", "calibrated_synthetic"])
def test_negative_variants_validate(group):
    validate(_compose(f"negatives={group}"))


def test_ratio_weights_are_normalised():
    run = validate(_compose("negatives.ratios=3-3-4"))
    assert run.negatives.ratios == pytest.approx({"hard": 0.3, "medium": 0.3, "easy": 0.4})
    assert validate(_compose("negatives.ratios=100-0-0")).negatives.spec().effective_ratios()["hard"] == 1.0


@pytest.mark.parametrize("model", ["minilm", "bge_small", "bge_base", "tiny_random", "bge_small_random"])
def test_models_validate(model):
    validate(_compose(f"model={model}"))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("negatives.ratios.hard=0.5", "ratios must sum to 1"),
        ("negatives.k=0", "negatives.k"),
        ("negatives.tiers=[hard,extreme]", "unknown tier(s) ['extreme']"),
        ("+negatives.ratios.extreme=0.0", "unknown tier(s) ['extreme']"),
        ("negatives.medium_rule=loose", "negatives.medium_rule"),
        ("+negatives.kk=3", "negatives.kk"),
        ("data.split.train=0.9", "sum to 1"),
        ("queries.evidence_min=13", "evidence_min (13) must be <= evidence_max (12)"),
        ("trainer.lr=-1", "trainer.lr"),
        ("loss.temperature=0.0001", "loss.temperature"),
        ("topics=kmeans", None),
        ("negatives.ratios=30-30", "hard-medium-easy weights such as 30-30-40"),
        ("negatives.ratios=30-x-40", "hard-medium-easy weights such as 30-30-40"),
        ("negatives.ratios=0-0-0", "hard-medium-easy weights such as 30-30-40"),
        ("negatives.mine_margin=-0.1", "negatives.mine_margin"),
        ("+topics.k_mx=3", "topics"),
        ("data.passage_template='{who}: {text}'", "data.passage_template"),
        ("model.encode_dtype=float16", "model.encode_dtype"),
        ("model.encode_dtype=bfloat16", None),
        ("trainer.packing=sometimes", "trainer.packing"),
        ("trainer.strategy=dpp", "unknown Lightning strategy 'dpp'"),
        ("trainer.devices=0", "trainer.devices"),
        ("trainer.devices=abc", "trainer.devices"),
        ("trainer.devices='0,1'", None),
        ("trainer.devices=3", "must be divisible by devices=3"),
        ("data.split={train:0.8,val:0.2,test:0.0}", "eval.split=test but data.split.test=0"),
    ],
)
def test_bad_values_fail_with_the_key(override, message):
    cfg = _compose(override)
    if message is None:
        validate(cfg)
        return
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    assert message in str(err.value)


@needs_locomo
def test_locomo_cv_composes_and_validates():
    run = validate(_compose("+experiment=locomo_cv", f"data.path={LOCOMO}"))
    assert run.data.source == "locomo" and run.data.fold == "all" and run.topics.method == "session"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.path=/no/such/locomo.json", "data.path: no file at '/no/such/locomo.json'"),
        ("data.fold=5", "fold=5 must be 'all' or in 0..1"),
        ("data.train_categories=[1,9]", "data.train_categories"),
        ("data.train_queries=[qa,facts]", "data.train_queries"),
        ("eval.split=val data.val_conversations=0", "eval.split=val but data.val_conversations=0"),
    ],
)
def test_bad_locomo_values(override, message):
    with pytest.raises(ConfigError) as err:
        validate(_compose("+experiment=locomo_cv", f"data.path={LOCOMO}", *override.split()))
    assert message in str(err.value)


def test_unknown_key_without_plus_fails_at_composition():
    with pytest.raises(Exception, match="negatives.kk"):
        _compose("negatives.kk=3")


def test_full_stops_at_once_when_the_model_cannot_load(tmp_path):
    env = {**os.environ, "HF_ENDPOINT": "http://127.0.0.1:9", "HINS_ROOT": str(tmp_path), "HF_HUB_OFFLINE": "0"}
    proc = subprocess.run([sys.executable, "-m", "hins.run", "+experiment=full", "logger=csv", "trainer=cpu"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 3, proc.stderr[-2000:]
    out = proc.stdout + proc.stderr
    assert "BAAI/bge-small-en-v1.5" in out and "model=minilm" in out
    assert not (tmp_path / "outputs" / "cache").exists()  # stopped before any stage ran


def test_artifact_keys_follow_the_files_a_group_reads(tmp_path):
    """An edited persona file or prompt file builds new artifacts; an LLM group's transport settings do not."""
    from hins.config import group_key
    from hins.pipeline import Pipeline

    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps([{"name": name, "traits": ["likes tea", "runs", "paints"]}
                                    for name in ("Ann Lee", "Bo Kim", "Cy Park")]))

    def conversations_key() -> str:
        cfg = _compose("personas=json", f"personas.path={personas}", "data.n_conversations=4")
        return Pipeline(cfg, validate(cfg), tmp_path)._synthetic_source()[0]

    before = conversations_key()
    personas.write_text(personas.read_text().replace("likes tea", "likes coffee"))
    assert conversations_key() != before

    prompt = tmp_path / "topics.md"
    prompt.write_text("Group the messages into topics.")
    llm = ["topics=llm", "topics.base_url=http://127.0.0.1:9/v1", "topics.model=m", f"topics.prompts.topics={prompt}"]

    def topics_key(*more: str) -> dict:
        cfg = _compose(*llm, *more)
        return group_key(OmegaConf.to_container(cfg.topics, resolve=True), drop=("method", "features"))

    first = topics_key()
    assert topics_key("topics.concurrency=7") == first  # how answers are fetched is not what they are
    assert topics_key("topics.max_tokens=64") != first
    prompt.write_text("Cluster the messages by topic.")
    assert topics_key() != first


def test_a_gpu_config_on_a_machine_without_one_stops_before_any_work(tmp_path):
    from hins.config import check_devices

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="trainer.accelerator=gpu: no CUDA GPU is visible here"):
        check_devices(validate(_compose("+experiment=full")))


def test_num_nodes_is_accepted_and_the_global_batch_spans_every_node():
    """A multi-node DDP run (Slurm: submitit_slurm with hydra.launcher.nodes=2) sets trainer.num_nodes; the global
    batch trainer.batch_size is shared by devices x nodes processes, checked at composition."""
    run = validate(_compose("trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", "trainer.batch_size=512"))
    assert run.trainer.num_nodes == 2 and validate(_compose()).trainer.num_nodes == 1
    with pytest.raises(ConfigError, match=r"batch_size=12 \(the global batch\) must be divisible by devices=4 x "
                                          r"num_nodes=2"):
        validate(_compose("trainer=ddp", "trainer.num_nodes=2", "trainer.devices=4", "trainer.batch_size=12"))
    with pytest.raises(ConfigError, match="trainer.num_nodes"):
        validate(_compose("trainer.num_nodes=0"))
