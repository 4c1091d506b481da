"""The package: its declared dependencies cover what its code imports; its Hydra configs ship inside it and compose
an experiment as ``experiment=<name>`` and as ``+experiment=<name>``; the wheel, installed non-editable, runs its
console scripts from any directory."""

from __future__ import annotations

import ast
import importlib.metadata as md
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tests.conftest import CONF, ROOT

# Imported by optional adapters but installed by hand, as the README says (MemoryOS's own pins break this stack).
MANUAL_INSTALLS = {"memoryos"}


def _dist(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9_.-]+", requirement).group()).lower()


def _top_level_imports(directory: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted((ROOT / directory).rglob("*.py")):
        local = {p.stem for p in path.parent.glob("*.py")}  # a script's sibling modules (benchmarks/)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local and top not in ("hins", "tests"):
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_import_is_a_declared_dependency():
    """hins/ and benchmarks/ import only distributions pyproject.toml declares (a dependency or an extra), tests/ also
    the dev extra's: a package that arrives only through another (scipy through scikit-learn, PyYAML through
    transformers) breaks the day that one stops needing it."""
    tomllib = pytest.importorskip("tomllib")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    runtime = {_dist(r) for r in project["dependencies"]} | {
        _dist(r) for name, reqs in extras.items() if name != "dev" for r in reqs}
    dev = runtime | {_dist(r) for r in extras["dev"]}
    owners = md.packages_distributions()
    undeclared = []
    for directory, declared in (("hins", runtime), ("benchmarks", runtime), ("tests", dev)):
        for module, where in _top_level_imports(directory).items():
            if module in MANUAL_INSTALLS:
                continue
            # An optional package not installed here (mteb) is taken to be the distribution of its own name.
            dists = {_dist(d) for d in owners.get(module, [module])}
            if not dists & declared:
                undeclared.append(f"{module} ({where}; from {sorted(dists)})")
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_readme_map_names_files_that_exist():
    """The README's code map and "where do I add" name real files, classes and functions: a move or a rename that
    forgets the map fails here, not in a newcomer's hands."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Inside hins")
    section = readme[start:readme.index("\n## ", start + 1)]
    paths = set(re.findall(r"\b((?:hins|tests|benchmarks|experiments)/[\w/.]*\w)", section))
    assert len(paths) > 15 and not [p for p in sorted(paths) if not (ROOT / p).exists()]
    modules = {Path(p).name for p in re.findall(r"[\w/]*\w+\.py\b", section)}
    known = {p.name for p in (ROOT / "hins").rglob("*.py")} | {p.name for p in (ROOT / "tests").glob("*.py")}
    assert len(modules) > 25 and not sorted(modules - known)
    named = {"_Pools": "hins/stages/negatives.py", "NegativesConfig": "hins/core/config.py",
             "stages_of": "hins/pipeline.py", "CONFIGS": "tests/test_stages.py", "source_for": "hins/stages/sources.py",
             "Priced": "hins/stages/base.py", "score": "hins/evaluation/evaluate.py", "Stage": "hins/stages/base.py"}
    for name, where in named.items():
        assert f"`{name}`" in section or f"`{name}." in section, name
        assert re.search(rf"^(class|def) {name}\b|^{name} = ", (ROOT / where).read_text(), re.M), (name, where)


# ------------------------------------------------------------------------------------------------ experiments


def _composed(conf: Path, primary: str, overrides: list[str]) -> dict:
    """The composed config, Hydra's node included (sweeper params, run and sweep directories), interpolations as
    written; without what records the command line itself (the overrides and the directory name made of them)."""
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        cfg = OmegaConf.to_container(compose(config_name=primary, overrides=overrides, return_hydra_config=True))
    hydra = cfg["hydra"]
    del hydra["overrides"], hydra["job"]["override_dirname"]
    hydra["runtime"] = {"choices": hydra["runtime"]["choices"]}
    return cfg


@pytest.fixture(scope="module")
def appended_conf(tmp_path_factory) -> Path:
    """The configs as they were before ``experiment: null`` joined the defaults: ``+experiment=`` appended it."""
    conf = tmp_path_factory.mktemp("before") / "conf"
    shutil.copytree(CONF, conf)
    primary = conf / "config.yaml"
    text = primary.read_text()
    assert "\n  - experiment: null\n" in text
    primary.write_text(text.replace("\n  - experiment: null\n", "\n"))
    return conf


@pytest.mark.parametrize("primary", ["config", "calibrate"])
@pytest.mark.parametrize("experiment", sorted(p.stem for p in (CONF / "experiment").glob("*.yaml")))
def test_experiment_selects_the_config_plus_experiment_appended(appended_conf, primary, experiment):
    """``experiment=<name>`` composes what ``+experiment=<name>`` composed when it appended the overlay, sweeps'
    own settings included (an overlay that includes others: table4_locomo -> locomo_study -> study). One
    difference, in hins.calibrate: its own ``name: calibrate`` now follows the experiment (the experiment sits in
    config.yaml's defaults, which calibrate.yaml includes), so its output directory keeps calibrate's name."""
    before = _composed(appended_conf, primary, [f"+experiment={experiment}"])
    after = _composed(CONF, primary, [f"experiment={experiment}"])
    if primary == "calibrate":
        assert after.pop("name") == "calibrate"
        before.pop("name")
    assert after == before


def test_both_forms_of_experiment_run_the_same_from_any_directory(tmp_path):
    """The command reads ``+experiment=`` as ``experiment=`` (Hydra refuses to add a group its defaults list holds),
    and finds its configs from a directory outside the repository."""
    env = {k: v for k, v in os.environ.items() if k != "HINS_ROOT"}
    outs = []
    for form in ("+experiment=table4_locomo", "experiment=table4_locomo"):
        proc = subprocess.run([sys.executable, "-m", "hins.run", form, "seed=3", "--cfg", "all"], cwd=tmp_path,
                              env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and "name: table4_locomo" in outs[0] and "data.fold: 0,1" in outs[0]
    assert "- experiment=table4_locomo" in outs[0]  # as Hydra recorded it, e.g. in a job's .hydra/overrides.yaml


# ------------------------------------------------------------------------------------------------ the wheel

CONSOLE_SCRIPTS = ("hins-run", "hins-calibrate", "hins-paper-tables", "hins-aggregate", "hins-locomo", "hins-mteb")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin/ directory of a fresh virtual environment holding the wheel built from this checkout, installed
    non-editable; its dependencies are this environment's (a path entry, so that this environment's editable hins
    stays out). .ci/run installs the same wheel with its declared dependencies into an environment of its own."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"  # a copy: setuptools' build/ in the checkout could add files deleted since
    shutil.copytree(ROOT / "hins", source / "hins", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(work / "dist")],
                   check=True, timeout=300)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    # --ignore-installed: a checkout on PYTHONPATH holding hins.egg-info (from an in-place build) reads as installed
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index",
                    "--ignore-installed", *map(str, (work / "dist").glob("hins-*.whl"))], check=True, timeout=300)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    deps = {sysconfig.get_paths()[k] for k in ("purelib", "platlib")}
    (Path(site) / "hins_test_dependencies.pth").write_text("\n".join(sorted(deps)) + "\n")
    return venv / "bin"


def _outside(installed: Path, tmp_path: Path, *command: str, env: dict[str, str] | None = None):
    """``command`` run from ``tmp_path`` (outside the repository) with the installed package alone."""
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "HINS_ROOT", "HINS_CACHE")}
    return subprocess.run([str(installed / command[0]), *command[1:]], cwd=tmp_path, capture_output=True, text=True,
                          timeout=600, env={**clean, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1", **(env or {})})


@pytest.mark.slow
def test_the_installed_wheel_runs_the_smoke_experiment_from_any_directory(installed, tmp_path):
    """Found: a non-editable install shipped no configs ("Primary config directory not found") and had no command.
    The console script runs the smoke experiment from outside the repository; results go to ./outputs there."""
    where = _outside(installed, tmp_path, "python", "-c", "import hins.run; print(hins.run.__file__)")
    assert where.stdout.startswith(str(installed.parent)), where.stdout + where.stderr  # not this checkout's code
    proc = _outside(installed, tmp_path, "hins-run", "+experiment=smoke", "trainer.max_steps=2")
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-3000:])
    (run,) = (tmp_path / "outputs" / "runs" / "smoke").iterdir()
    assert json.loads((run / "results.json").read_text())["training"]["steps"] == 2
    assert (tmp_path / "outputs" / "cache").is_dir() and (run / "model" / "modules.json").is_file()


@pytest.mark.slow
def test_the_installed_commands_load_and_give_hydra_tab_completion(installed, tmp_path):
    load = ("import importlib.metadata as md; eps = md.distribution('hins').entry_points; "
            "print(*sorted(e.name for e in eps if callable(e.load())))")
    loaded = _outside(installed, tmp_path, "python", "-c", load)
    assert loaded.stdout.split() == sorted(CONSOLE_SCRIPTS), loaded.stdout + loaded.stderr
    assert all((installed / script).is_file() for script in CONSOLE_SCRIPTS)
    hydra_help = _outside(installed, tmp_path, "hins-run", "--hydra-help")
    assert hydra_help.returncode == 0 and "-sc install=bash" in hydra_help.stdout
    script = _outside(installed, tmp_path, "hins-run", "-sc", "install=bash").stdout
    assert script.rstrip().endswith("-F hydra_bash_completion hins-run"), script
    query = _outside(installed, tmp_path, "hins-run", "-sc", "query=bash", env={"COMP_LINE": "hins-run experiment=sm"})
    assert query.stdout.split() == ["experiment=smoke"], query.stdout + query.stderr
    assert not (tmp_path / "outputs").exists()
