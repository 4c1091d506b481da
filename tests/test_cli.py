"""Bad input at every command-line entry point: hins.locomo (issue 16, items 1, 4, 5 and 8), hins.aggregate,
hins.mteb_eval, and the overrides of the Hydra entry points (hins.run, hins.calibrate, hins.paper_tables).

The rule: a wrong or empty result never exits 0; a bad value is named with exit 2 before any work; a fault mid-run
names the path and keeps what was built. Every ``main`` is called in the test process (a subprocess costs seconds
of imports per example); the fuzz tests draw arguments with hypothesis. RELIABILITY.md lists each test."""

from __future__ import annotations

import copy
import errno
import importlib
import json
import logging
import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from hins import aggregate
from hins.evaluation import locomo, mteb_eval
from hins.core.cli import run_hydra
from hins.evaluation.locomo import LocomoFormatError, load_locomo
from tests.conftest import ROOT

FIXTURE = ROOT / "tests" / "fixtures" / "locomo_tiny.json"
HUNT = os.environ.get("HINS_FUZZ_EXAMPLES")


def fuzz(examples: int = 60) -> settings:
    """Fixed examples in CI (derandomize); HINS_FUZZ_EXAMPLES=2000 hunts with fresh random ones."""
    return settings(max_examples=int(HUNT or examples), derandomize=not HUNT, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


# Any argument a user could type: a shell cannot pass a NUL byte. Nothing naming Hydra's own settings
# (hydra.run.dir, hydra.output_subdir=/, ...), which would let a drawn override write anywhere on this machine.
ARG = st.text(max_size=12).filter(lambda t: "\0" not in t and "hydra" not in t.lower())


def _fuzz_call(main, argv: list[str], capsys) -> tuple[object, str] | None:
    """A fuzzed call: never a traceback; exit 2 with an ``error:`` line (None), or exit 0 and (code, stdout)."""
    code, out, err = _call(main, argv, capsys)
    event(f"exit {code}")  # pytest --hypothesis-show-statistics: how many examples got how far
    assert "Traceback" not in out + err
    if code == 2:
        assert "error:" in err
        return None
    assert code == 0, (argv, code, err)
    return code, out


def _call(main, argv: list[str], capsys) -> tuple[object, str, str]:
    """(exit code, stdout, stderr) of a main that returns its code or raises SystemExit."""
    try:
        code = main(argv)
    except SystemExit as exit_:
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


def _turns(data: list[dict]):
    for sample in data:
        for key, turns in sample["conversation"].items():
            if key.startswith("session_") and isinstance(turns, list):
                yield from turns


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tiny_embedder) -> Path:
    return tiny_embedder.save(tmp_path_factory.mktemp("cli") / "tiny")


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    """LoCoMo files that load, or nearly, but hold nothing to rank: every turn blank, every turn the same text, no
    question with evidence."""
    root, raw = tmp_path_factory.mktemp("locomo"), json.loads(FIXTURE.read_text())
    files = {}
    for name, text in (("blank", " "), ("same", "the same words")):
        data = copy.deepcopy(raw)
        for turn in _turns(data):
            turn["text"] = text
            turn.pop("blip_caption", None)
        files[name] = root / f"{name}.json"
        files[name].write_text(json.dumps(data))
    data = copy.deepcopy(raw)
    for sample in data:
        for qa in sample["qa"]:
            qa["evidence"] = []
    files["no_questions"] = root / "no_questions.json"
    files["no_questions"].write_text(json.dumps(data))
    return files


def _locomo_args(model_dir: Path, *extra: str, path: Path = FIXTURE) -> list[str]:
    return ["--model-dir", str(model_dir), "--path", str(path), *extra]


# ------------------------------------------------------------------------------------------------ hins.locomo


@pytest.mark.parametrize("batch", ["-5", "0"])
def test_locomo_cli_refuses_a_batch_size_below_one(model_dir, capsys, batch):
    """Item 1: -5 printed a plausible table from an uninitialised buffer and exited 0; 0 crashed in range()."""
    code, out, err = _call(locomo.main, _locomo_args(model_dir, f"--batch-size={batch}"), capsys)
    assert code == 2 and "argument --batch-size: expected a whole number >= 1" in err
    assert "loaded in" not in out  # before any model is loaded


@pytest.mark.parametrize("batch", [0, -5])
def test_encode_refuses_a_batch_size_below_one(tiny_embedder, batch):
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        tiny_embedder.encode(["a message", "another"], batch_size=batch)


@pytest.mark.parametrize("template", ["no fields", "{{text}}", "{speaker}"])
def test_locomo_cli_refuses_a_template_without_text(model_dir, capsys, template):
    """Item 4: a template without {text} made every passage of a speaker the same, and the ranking exited 0."""
    code, out, err = _call(locomo.main, _locomo_args(model_dir, "--template", template), capsys)
    assert code == 2 and "argument --template" in err and "must contain {text}" in err and "loaded in" not in out


def test_locomo_conversations_with_nothing_to_rank_are_refused(model_dir, bad_files, capsys):
    """Item 4: every turn blank (the loader refuses it, naming file, sample and field), or every turn the same
    passage under the template (the CLI refuses it, naming the conversations)."""
    with pytest.raises(LocomoFormatError, match=r"sample 0 \(sample_id='tiny-1'\): field 'conversation': expected "
                                                r"at least one turn with text"):
        load_locomo(bad_files["blank"])
    code, out, err = _call(locomo.main, _locomo_args(model_dir, path=bad_files["blank"]), capsys)
    assert code == 2 and str(bad_files["blank"]) in err
    code, out, err = _call(locomo.main, _locomo_args(model_dir, "--template", "{text}", path=bad_files["same"]),
                           capsys)
    assert code == 2 and "['tiny-1', 'tiny-2']" in err and "cannot be ranked" in err and "loaded in" not in out


def test_locomo_cli_with_no_evaluable_question_exits_2(model_dir, bad_files, capsys):
    """Item 5: 'evaluated 0 questions', a table without rows, and exit 0."""
    code, out, err = _call(locomo.main, _locomo_args(model_dir, path=bad_files["no_questions"]), capsys)
    assert code == 2 and "no question of categories [1, 2, 3, 4] with evidence" in err and "loaded in" not in out


@pytest.mark.parametrize(("args", "option"), [
    (["--template", "{spk}: {text}"], "--template"), (["--template", "{speaker"], "--template"),
    (["--template", "{text.upper}"], "--template"), (["--batch-size", "0"], "--batch-size"),
    (["--out", "{tmp}"], "--out"), (["--out", "{tmp}/file/r.json"], "--out"),
    (["--categories", "a"], "--categories"), (["--categories", "6"], "--categories"), (["--categories", ","], "--categories"),
])
def test_locomo_cli_names_a_bad_argument_before_any_work(model_dir, tmp_path, capsys, args, option):
    """Item 8: these crashed with a traceback once the model was loaded, and --out naming a directory only after
    the whole evaluation, whose results were then only on the console."""
    (tmp_path / "file").write_text("")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, out, err = _call(locomo.main, _locomo_args(model_dir, *args), capsys)
    assert code == 2 and f"argument {option}:" in err and "loaded in" not in out


def test_locomo_cli_keeps_the_results_of_the_models_before_one_that_does_not_load(model_dir, tmp_path, capsys):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    out_file = tmp_path / "results" / "r.json"
    code, out, err = _call(locomo.main, ["--model-dir", str(model_dir), "--model-dir", str(broken), "--path",
                                         str(FIXTURE), "--out", str(out_file)], capsys)
    assert code == 2 and str(broken) in err and "the results of the models before it are kept" in err
    assert "| **overall** | 9 |" in out
    saved = json.loads(out_file.read_text())
    assert list(saved["results"]) == [model_dir.name] and str(broken) in saved["error"]


def test_locomo_cli_full_disk_names_the_file_and_keeps_the_tables(model_dir, tmp_path, capsys, monkeypatch):
    out_file = tmp_path / "r.json"

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(locomo, "write_atomic", full)
    code, out, err = _call(locomo.main, _locomo_args(model_dir, "--out", str(out_file)), capsys)
    assert code == 5 and f"could not write {out_file}: No space left on device" in err and "Traceback" not in err
    assert "| **overall** | 9 |" in out


def _good_or(draw):
    """Draws an argument, good or (one time in four) bad, so that many examples run to the end."""
    def good_or(good, bad):
        return draw(bad) if draw(st.integers(0, 3)) == 0 else draw(good)
    return good_or


TEMPLATE_PARTS = ["{speaker}", "{text}", "{session}", "{", "}", "{{", "}}", "{spk}", "{0}", "{}", "{text!r}",
                  "{text:>5}", "{text:d}", "{text.upper}", ": ", "x"]


@st.composite
def locomo_argv(draw, model_dir: Path, files: list[Path]) -> list[str]:
    good_or = _good_or(draw)
    argv = ["--model-dir", good_or(st.just(str(model_dir)), ARG)] if draw(st.integers(0, 5)) else []
    if draw(st.integers(0, 3)) == 0:
        argv += ["--model-dir", good_or(st.just(str(model_dir)), ARG)]
    if draw(st.integers(0, 5)) == 0:
        argv += ["--package", draw(st.sampled_from(["", ".x", "sys", "os", "hins", "no_such_package_here"]))]
    options = {
        "--path": (st.just(str(FIXTURE)), st.sampled_from([str(f) for f in files]) | ARG),
        "--template": (st.sampled_from(["{speaker}: {text}", "{text} ({session})"]),
                       st.lists(st.sampled_from(TEMPLATE_PARTS), max_size=4).map("".join) | ARG),
        "--categories": (st.sampled_from(["1,2,3,4", "4", "1, 5"]), st.text("0123456,a -", max_size=8)),
        "--batch-size": (st.integers(1, 64).map(str), st.integers(-3, 0).map(str) | ARG),
        "--query-prefix": (ARG, ARG),
        "--out": (st.sampled_from(["r.json", "sub/dir/r.json"]), st.sampled_from([".", "", "file/r.json"]) | ARG),
    }
    for option, (good, bad) in options.items():
        if draw(st.booleans()):
            argv.append(f"{option}={good_or(good, bad)}")
    return argv + (draw(st.lists(ARG, max_size=1)) if draw(st.integers(0, 3)) == 0 else [])  # a stray token


@pytest.fixture
def in_tmp(tmp_path, monkeypatch) -> Path:
    """Relative paths a drawn argument names land in the test's directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    return tmp_path


@fuzz()
@given(data=st.data())
def test_locomo_cli_fuzzed_arguments_exit_2_or_give_a_full_table(model_dir, bad_files, in_tmp, capsys, monkeypatch,
                                                                 data):
    monkeypatch.setenv("HINS_LOCOMO", str(FIXTURE))  # the default --path
    argv = data.draw(locomo_argv(model_dir, [FIXTURE, *bad_files.values()]))
    code, out, err = _call(locomo.main, argv, capsys)
    event(f"exit {code}")  # pytest --hypothesis-show-statistics: how many examples got how far
    assert "Traceback" not in out + err
    if code == 0 and out.startswith("usage:"):  # -h among the stray tokens
        return
    if code == 2:
        assert "error:" in err
        return
    assert code == 0, (argv, code, err)
    assert "error" not in err and "| **overall** |" in out
    out_arg = next((a.partition("=")[2] for a in argv if a.startswith("--out=")), None)
    if out_arg is not None:
        saved = json.loads(Path(out_arg).read_text())
        assert saved["results"] and all(r["n_queries"] > 0 for r in saved["results"].values()) and "error" not in saved


# ------------------------------------------------------------------------------------------------ hins.aggregate


@pytest.fixture(scope="module")
def multirun(tmp_path_factory) -> Path:
    from tests.test_studies import _fake_job

    root = tmp_path_factory.mktemp("multirun") / "study"
    for seed in (1, 2):
        _fake_job(root, "hins", seed, "shared", [0.5, 0.5, 0.2], [0.6, 0.7, 0.3])
        _fake_job(root, "no_easy", seed, "shared", [0.5, 0.5, 0.2], [0.6, 0.8, 0.1])
    for results in root.glob("*/results.json"):  # the default --metrics: recall@10 and ndcg@10
        summary = json.loads(results.read_text())
        for model in summary["results"].values():
            for row in model["per_query"]:
                row["ndcg@10"] = row["recall@10"] / 2
        results.write_text(json.dumps(summary))
    return root


@pytest.mark.parametrize(("args", "message"), [
    (["--metrics", "qid"], "--metrics: ['qid'] not held by every question's results"),
    (["--out", "file"], "argument --out: cannot write 'file': file is not a directory"),
    (["--out", "file/sub"], "argument --out: cannot write 'file/sub': file is not a directory"),
])
def test_aggregate_names_a_bad_argument_before_any_work(multirun, in_tmp, capsys, args, message):
    """--metrics qid (a per-question field, not a metric) raised a raw TypeError; --out at a file raised
    FileExistsError after the aggregation."""
    code, out, err = _call(aggregate.main, [str(multirun), *args], capsys)
    assert code == 2 and message in err and not (in_tmp / "file" / "aggregate.md").exists()


@fuzz()
@given(data=st.data())
def test_aggregate_fuzzed_arguments_exit_2_or_write_the_tables(multirun, in_tmp, capsys, data):
    good_or = _good_or(data.draw)
    argv = [good_or(st.sampled_from([str(multirun), str(multirun / "negatives=hins,seed=1")]),
                    st.sampled_from([".", "file"]) | ARG)]
    if data.draw(st.booleans()):
        argv += ["--metrics", *(good_or(st.sampled_from(["recall@10", "ndcg@10"]),
                                        st.sampled_from(["qid", "kind", "", "nope"]) | ARG)
                                for _ in range(data.draw(st.integers(1, 3))))]
    if data.draw(st.booleans()):
        argv.append(f"--reference={good_or(st.sampled_from(['full', 'no_easy', 'No Easy']), st.just('') | ARG)}")
    if data.draw(st.booleans()):
        argv.append(f"--out={good_or(st.sampled_from(['agg', 'agg/sub']), st.sampled_from(['', 'file', 'file/x']) | ARG)}")
    called = _fuzz_call(aggregate.main, argv, capsys)
    if called is None:
        return
    _, out = called
    if not out.startswith("usage:"):
        out_dir = Path(next((a.partition("=")[2] for a in argv if a.startswith("--out=")), argv[0]))
        metrics = argv[argv.index("--metrics") + 1:] if "--metrics" in argv else ["recall@10"]
        assert f"### {metrics[0]}" in out
        assert (out_dir / "aggregate.md").is_file() and (out_dir / "aggregate.json").is_file()


# ------------------------------------------------------------------------------------------------ hins.mteb_eval


@fuzz()
@given(data=st.data())
def test_mteb_cli_fuzzed_arguments_exit_2_or_score_every_model(model_dir, in_tmp, capsys, monkeypatch, data):
    """With the mteb package and the Hub stubbed out (neither is here), so that the arguments are what is tried."""
    monkeypatch.setattr(mteb_eval, "require_mteb", lambda check_hub=True: None)
    monkeypatch.setattr(mteb_eval, "evaluate_mteb", lambda d, tasks, batch_size, check_hub: {"STS12": 0.5})
    argv: list[str] = []
    for _ in range(data.draw(st.integers(0, 2))):
        argv.append(f"--model-dir={data.draw(st.just(str(model_dir)) | ARG)}")
    if data.draw(st.booleans()):
        argv.append(f"--batch-size={data.draw(st.integers(-3, 100).map(str) | ARG)}")
    if data.draw(st.booleans()):
        argv.append(f"--task={data.draw(ARG)}")
    argv += data.draw(st.lists(st.sampled_from(["--no-hub-check"]) | ARG, max_size=1))
    called = _fuzz_call(mteb_eval.main, argv, capsys)
    if called is None:
        return
    _, out = called
    if not out.startswith("usage:"):
        dirs = [a.partition("=")[2] for a in argv if a.startswith("--model-dir=")]
        assert dirs and all(Path(d).is_dir() for d in dirs) and "| STS12 |" in out


# ------------------------------------------------------------------------------------------------ Hydra entry points


class _WorkStarts(BaseException):
    """Raised where an entry point's work would begin: the command line was valid."""


@pytest.fixture
def hydra_main(tmp_path, monkeypatch, model_dir):
    """Call a Hydra entry point as ``python -m <module> <overrides>`` does, in this process, its work stubbed out.
    Returns the exit code, or "work" when the command line was valid and the work would start."""
    from hydra.core.global_hydra import GlobalHydra

    root_handlers, root_level = logging.root.handlers[:], logging.root.level
    monkeypatch.setenv("HYDRA_MAIN_MODULE", "__main__")  # Hydra names the job after the file, as under python -m
    monkeypatch.setenv("HINS_ROOT", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    def stop(*args, **kwargs):
        raise _WorkStarts

    monkeypatch.setattr("hins.pipeline.run_pipeline", stop)
    monkeypatch.setattr("hins.pipeline.load_model", stop)
    monkeypatch.setattr("hins.paper_tables.make_memory", stop)
    fixed = {"hins.run": [], "hins.calibrate": [f"data.path={FIXTURE}"],
             "hins.paper_tables": [f"models.trained={model_dir}", f"locomo.path={FIXTURE}", "systems=[dense]"]}

    def call(module: str, overrides: list[str]) -> object:
        GlobalHydra.instance().clear()
        monkeypatch.setattr(sys, "argv", [module, *fixed[module], *overrides, f"hydra.run.dir={tmp_path}/run",
                                          f"hydra.sweep.dir={tmp_path}/sweep"])
        try:
            run_hydra(importlib.import_module(module).main)
        except SystemExit as exit_:
            return exit_.code
        except _WorkStarts:
            return "work"
        return 0

    yield call
    GlobalHydra.instance().clear()  # Hydra's state and its logging set-up stay out of the tests after this one
    for handler in set(logging.root.handlers) - set(root_handlers):
        handler.close()
    logging.root.handlers[:] = root_handlers
    logging.root.setLevel(root_level)


@pytest.mark.parametrize(("module", "override", "message"), [
    ("hins.run", "foo", "error: invalid config: Error parsing override 'foo'"),
    ("hins.run", "data=nope", "error: invalid config: In 'config': Could not find 'data/nope'"),
    ("hins.run", "trainer=[1]", "error: TypeError: argument of type 'int' is not iterable (reading the command line"),
    ("hins.run", "+sed=1", "unknown top-level key(s) ['sed']"),
    ("hins.run", "name=${nope}", "invalid config: name: Interpolation key 'nope' not found"),
    ("hins.run", "paths.cache_dir=${oc.env:HINS_TEST_UNSET}", "Environment variable 'HINS_TEST_UNSET' not found"),
    ("hins.calibrate", "calibrate.top_n=abc", "calibrate.top_n: Input should be a valid integer"),
    ("hins.calibrate", "~calibrate", "calibrate: Input should be a valid dictionary"),
    ("hins.paper_tables", "locomo.path=/nonexistent.json", "/nonexistent.json: file not found"),
    ("hins.paper_tables", "locomo.conversations=[nope]", "locomo.conversations: ['nope'] are not in"),
    ("hins.paper_tables", "passage_template='{spk}: {text}'", "unknown field {spk}"),
    ("hins.run", ["-m", "name=fuzz,${nope}"], "1 of the sweep's 2 jobs have an invalid config; nothing was run"),
    ("hins.run", ["-m", "trainer=cpu,[1]"], "1 of the sweep's 2 jobs have an invalid config; nothing was run"),
])
def test_hydra_entry_points_name_a_bad_override_with_exit_2(hydra_main, capsys, module, override, message):
    """Each of these exited 1, most with a traceback (Hydra's code for a command line it cannot compose, or an
    error once the job had started), or (+sed=1) ran, ignoring the typo; paper_tables read LoCoMo only after the
    job had started; a sweep with such a job ran the jobs before it (its check skipped, with a warning)."""
    code = hydra_main(module, override if isinstance(override, list) else [override])
    out, err = capsys.readouterr()
    assert code == 2 and message in out + err and "Traceback" not in out + err


def test_a_secret_in_a_bad_command_line_is_not_echoed(hydra_main, capsys):
    for overrides in (["trainer=[1]", "+llm.api_key=hunter2-topsecret"], ["seed=1,2", "+x=sk-abcdefghijklmnop"],
                      ["+synthesis.api_key=hunter2-topsecret,x"]):
        code = hydra_main("hins.run", overrides)
        out, err = capsys.readouterr()
        assert code == 2 and "hunter2-topsecret" not in out + err and "sk-abcdefghijklmnop" not in out + err


HYDRA_KEYS = {
    "hins.run": ["seed", "name", "stop_after", "trainer.lr", "trainer.batch_size", "negatives.ratios", "negatives.k",
                 "data.passage_template", "paths.cache_dir", "model", "data", "topics", "+experiment", "eval.ks",
                 "~seed", "+seed", "++seed", "+new_key", "logger.csv", "data.n_conversations"],
    "hins.calibrate": ["calibrate.top_n", "calibrate.pool", "calibrate.bootstrap", "~calibrate",
                       "data.eval_categories", "data.path", "name", "model"],
    "hins.paper_tables": ["models.trained", "models.base", "systems", "mode", "top_k", "answer", "locomo.path",
                          "locomo.conversations", "locomo.categories", "passage_template", "personamem.enabled",
                          "mteb.enabled", "llm.base_url", "name", "+extra"],
}
VALID = {"hins.run": ["seed=7", "name=fuzz", "negatives=no_easy", "trainer.lr=1e-4", "stop_after=data", "-m",
                     "+experiment=smoke", "model=tiny_random", "topics=kmeans", "negatives.ratios=50-50-0"],
         "hins.calibrate": ["calibrate.top_n=5", "calibrate.pool=all", "seed=3", "data.eval_categories=[4]"],
         "hins.paper_tables": ["top_k=5", "mode=retrieval", "locomo.categories=[1,2]", "name=x", "answer=false"]}
VALUES = st.sampled_from(["${x}", "${oc.env:HINS_TEST_UNSET}", "[1]", "[]", "{a: 1}", "null", "'", "nope", "1,2",
                          "", "~", "0", "-1", "1e309", "nan", "true", "smoke", "{speaker}", "{text}", "[dense]"]) | ARG


@pytest.mark.parametrize("module", sorted(HYDRA_KEYS))
@fuzz()
@given(data=st.data())
def test_hydra_entry_points_fuzzed_overrides_exit_2_or_start_the_work(hydra_main, capsys, module, data):
    valid = st.sampled_from(VALID[module])
    override = st.one_of(valid, valid, valid, ARG, st.builds("{}={}".format, st.sampled_from(HYDRA_KEYS[module]),
                                                             VALUES), st.sampled_from(["-m", "--cfg", "job"]))
    overrides = data.draw(st.lists(override, min_size=1, max_size=3))
    code = hydra_main(module, overrides)
    event(f"exit {code}")
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err, (overrides, out + err)
    assert code in (2, "work") or (code == 0 and "--cfg" in overrides), (overrides, code, out + err)
