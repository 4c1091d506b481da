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

from hins.core.config import ConfigError, validate
from hins.core.cli import experiment_as_default
from tests.conftest import CONF, ROOT


def _compose(*overrides: str):
    """The config ``hins-run <overrides>`` composes (``+experiment=`` read as the entry points read it)."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="config", overrides=experiment_as_default(list(overrides)), return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)  # paths resolve against the run's working directory, as in a run
        return cfg


LOCOMO = os.environ.get("HINS_LOCOMO", str(ROOT.parent / "shared" / "data" / "locomo" / "locomo10.json"))
needs_locomo = pytest.mark.skipif(not os.path.isfile(LOCOMO), reason="LoCoMo file not found (set HINS_LOCOMO)")


EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiments_compose_and_validate(experiment):
    """Every overlay (each sweep's jobs: tests/test_studies.py), so no key an experiment adds is refused as unknown."""
    if "locomo" in experiment and not os.path.isfile(LOCOMO):
        pytest.skip("LoCoMo file not found (set HINS_LOCOMO)")
    run = validate(_compose(f"+experiment={experiment}"))
    assert run.name == ("default" if experiment == "study" else experiment)  # study: what the studies share


def test_full_is_the_paper_recipe():
    run = validate(_compose("+experiment=full"))
    assert run.model.name == "BAAI/bge-small-en-v1.5" and run.model.pooling == "cls"
    assert run.trainer.batch_size == 512 and run.trainer.max_steps == 490
    assert run.trainer.lr == 2e-5 and run.trainer.warmup_ratio == 0.1 and run.trainer.precision == "bf16-mixed"
    assert run.loss.temperature == 0.02 and not run.loss.in_batch_negatives
    assert run.negatives.k == 15 and run.negatives.ratios == {"hard": 0.3, "medium": 0.3, "easy": 0.4}


@pytest.mark.parametrize("group", sorted(p.stem for p in (CONF / "negatives").glob("*.yaml")))
def test_negative_variants_validate(group):
    validate(_compose(f"negatives={group}"))


def test_calibrated_ratios_are_measured_not_configured():
    neg = validate(_compose("negatives.ratios=calibrated")).negatives
    assert neg.calibrated and neg.uses_model
    with pytest.raises(ValueError, match="measured per run"):
        neg.drawn_with()
    assert neg.drawn_with({"hard": 0.1, "medium": 0.2, "easy": 0.7}).effective_ratios()["easy"] == pytest.approx(0.7)
    with pytest.raises(ConfigError, match="strategy=uniform draws no tiers"):
        validate(_compose("negatives=uniform", "negatives.ratios=calibrated"))


@pytest.mark.parametrize("ratios", ["30-30-40", "0.3-0.3-0.4"])
def test_ratio_strings_are_percent_or_fractions(ratios):
    run = validate(_compose(f"negatives.ratios={ratios}"))
    assert run.negatives.ratios == pytest.approx({"hard": 0.3, "medium": 0.3, "easy": 0.4})
    assert validate(_compose("negatives.ratios=100-0-0")).negatives.effective_ratios()["hard"] == 1.0


@pytest.mark.parametrize(
    ("override", "message"),
    [  # the README: ratios that do not sum to 1 are rejected, not renormalised (30-30-30 once became thirds)
        ("negatives.ratios=30-30-30",
         "negatives.ratios: hard-medium-easy ratios must sum to 100 (percent) or 1, got 90"),
        ("negatives.ratios=3-3-4", "must sum to 100 (percent) or 1, got 10"),
        ("negatives.ratios=0.3-0.3-0.3", "must sum to 100 (percent) or 1, got 0.9"),
        ("negatives.ratios={hard:0.3,medium:0.3,easy:0.3}", "negatives.ratios: ratios must sum to 1, got 0.9"),
    ],
)
def test_ratios_not_summing_to_one_are_rejected_naming_the_key_and_the_sum(override, message):
    with pytest.raises(ConfigError) as err:
        validate(_compose(override))
    assert message in str(err.value)



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
        ("negatives.ratios=calibrate", "or 'calibrated', got 'calibrate'"),
        ("eval.extra=[/no/such.json]", "eval.extra[0]: no file at '/no/such.json'"),
        (f"eval.extra=[{ROOT / 'tests' / 'fixtures' / 'locomo_tiny.json'},/no/such.json]", "eval.extra[1]: no file"),
        ("negatives.shortfall=replacement", "negatives.shortfall: expected 'backfill', 'mask' or 'drop'; "
                                            "'replacement' was removed: a sample no longer holds a passage twice"),
        ("negatives.shortfall=repeat", "negatives.shortfall"),
        ("negatives.shortfall=mask", None),
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
    from hins.pipeline import keys_of

    personas = tmp_path / "personas.json"
    personas.write_text(json.dumps([{"name": name, "traits": ["likes tea", "runs", "paints"]}
                                    for name in ("Ann Lee", "Bo Kim", "Cy Park")]))

    def conversations_key() -> str:
        cfg = _compose("personas=json", f"personas.path={personas}", "data.n_conversations=4")
        return keys_of(validate(cfg), None)["conversations"]

    before = conversations_key()
    personas.write_text(personas.read_text().replace("likes tea", "likes coffee"))
    assert conversations_key() != before

    prompt = tmp_path / "topics.md"
    prompt.write_text("Group the messages into topics.")
    llm = ["topics=llm", "topics.base_url=http://127.0.0.1:9/v1", "topics.model=m", f"topics.prompts.topics={prompt}"]

    def topics_key(*more: str) -> str:
        return keys_of(validate(_compose(*llm, *more)), None)["topics"]

    first = topics_key()
    assert topics_key("topics.concurrency=7") == first  # how answers are fetched is not what they are
    assert topics_key("topics.max_tokens=64") != first
    prompt.write_text("Cluster the messages by topic.")
    assert topics_key() != first


def test_a_gpu_config_on_a_machine_without_one_stops_before_any_work(tmp_path):
    from hins.core.config import check_devices

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ConfigError, match="trainer.accelerator=gpu: no CUDA GPU is visible here"):
        check_devices(validate(_compose("+experiment=full")))


def test_an_unknown_top_level_key_is_rejected_naming_it():
    """Found: ``+seeed=7`` (a misspelt seed) was ignored and the run went on with seed 42."""
    with pytest.raises(ConfigError, match=r"unknown top-level key\(s\) \['seeed'\]"):
        validate(_compose("+experiment=smoke", "+seeed=7"))
    # a command's own keys: python -m hins.calibrate
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name="calibrate", return_hydra_config=True)
        HydraConfig.instance().set_config(cfg)
    with pytest.raises(ConfigError, match=r"\['calibrate'\]"):
        validate(cfg)
    validate(cfg, extra=("calibrate",))


@needs_locomo
@pytest.mark.parametrize(("overrides", "message"), [
    (["+experiment=smoke", "data=locomo"], "data.n_conversations, data.split: set by +experiment=smoke, which is made "
                                            "for data=synthetic; they do not apply to data=locomo"),
    (["+experiment=table4_locomo", "data=synthetic"], "data.folds, data.fold: set by +experiment=table4_locomo, which "
                                                       "is made for data=locomo; they do not apply to data=synthetic"),
    (["data=locomo", "+data.n_conversations=4"], "data.n_conversations: settings of data=synthetic, not of data=locomo"),
])
def test_another_sources_data_keys_name_the_overlay_that_set_them(overrides, message):
    """Found: ``+experiment=smoke data=locomo`` failed on data.n_conversations, a key the user never set."""
    with pytest.raises(ConfigError) as err:
        validate(_compose(*overrides))
    assert message in str(err.value)


def _cli(tmp_path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "HINS_ROOT": str(tmp_path), "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "hins.run", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize(("args", "message"), [
    (["+experiment=smoke", "negatives=hisn"], "invalid config: In 'config': Could not find 'negatives/hisn' (options "
                                              "in 'negatives': all_medium, calibrated, hins,"),
    (["+experiment=nope"], "invalid config: In 'config': Could not find 'experiment/nope' (options in 'experiment': "),
    (["negatives.kk=3"], "invalid config: Could not override 'negatives.kk'. To append to your config use "
                         "+negatives.kk=3 (Key 'kk' is not in struct)"),
    (["negatives=[hins,"], "invalid config: override 'negatives=[hins,': "),
    (["-m", "+experiment=nope", "seed=1,2"], "Could not find 'experiment/nope'"),
])
def test_a_config_hydra_cannot_compose_exits_2_with_one_line(tmp_path, args, message):
    """Found: exit 1 and Hydra's multi-line report (search path included) instead of the documented exit 2."""
    code, out = _cli(tmp_path, *args)
    assert code == 2, out[-3000:]
    assert message in out and len(out.strip().splitlines()) == 1, out
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_a_sweep_with_an_unknown_option_exits_2_naming_it_once(tmp_path):
    """Found: the sweep check's message came first as a UserWarning, then Hydra's own for the job, and exit 1."""
    code, out = _cli(tmp_path, "-m", "+experiment=smoke", "negatives=hins,hisn")
    assert code == 2, out[-3000:]
    assert "1 of the sweep's 2 jobs have an invalid config; nothing was run" in out
    assert out.count("Could not find 'negatives/hisn'") == 1 and "Warning" not in out and "Traceback" not in out
    assert not list(tmp_path.rglob("run.log"))  # no job started


def test_help_and_tab_completion_still_work(tmp_path):
    code, out = _cli(tmp_path, "--help")
    assert code == 0 and "== Configuration groups ==" in out
    env = {**os.environ, "COMP_LINE": "hins/run.py negatives=h"}
    proc = subprocess.run([sys.executable, "-m", "hins.run", "-sc", "query=bash"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "negatives=hins" in proc.stdout.split(), proc.stdout + proc.stderr


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
