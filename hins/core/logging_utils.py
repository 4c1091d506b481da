"""What of a run may be logged: the resolved config, with anything secret-looking removed."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from omegaconf import OmegaConf

# Whole key names (a final ``_``/``-`` segment) that hold a secret: api_key, openai_api_key, hf_token, password.
# Not their neighbours, which are settings that shape results: max_tokens (a count), api_key_env (a variable's
# name), tokenizer.
SECRET = re.compile(r"(?:.*[_-])?(?:api[_-]?key|token|secret|password|passwd|credentials?)", re.IGNORECASE)
# Query parameters that carry a key in some providers' URLs (?key= Google, ?sig= Azure SAS) besides SECRET's.
URL_SECRET = re.compile(r"key|sig|signature", re.IGNORECASE)
# A key echoed by a server or a library, where the configured value is unknown or was never read (OpenAI style).
KEY_LIKE = re.compile(r"\bsk-[A-Za-z0-9_-]{8,}")
# A URL's user:password@ part, anywhere in a value (also inside a sweep's "a,b" list).
URL_CREDENTIALS = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#\s@]+@")
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A random token inside a name-shaped value (hf_..., AIza..., ghp_...): 20+ letters and digits that mix upper case,
# lower case and digits. Variable names are words in one case each (OPENAI_API_KEY, my_llm_key2, HfToken).
TOKEN_RUN = re.compile(r"[A-Za-z0-9]{20,}")
JOB_START = "job starting in"  # hins.run logs it first on every attempt at a job; hins.aggregate splits run.log there


def _secret_name(name: str) -> bool:
    return bool(SECRET.fullmatch(name) or URL_SECRET.fullmatch(name))


def public_url(value: str) -> str:
    """``value`` without its user:password part and its secret-looking query parameters if it is a URL, else as
    it is. The rest is kept byte for byte: job keys are hashed from it."""
    try:
        url = urlsplit(value)
    except ValueError:  # "[" without "]" after "//": not a URL
        return value
    if not (url.scheme and url.netloc):
        return value
    query = "&".join(p for p in url.query.split("&") if not _secret_name(unquote_plus(p.partition("=")[0])))
    netloc = url.netloc.rpartition("@")[2]
    if (netloc, query) == (url.netloc, url.query):
        return value
    return urlunsplit((url.scheme, netloc, url.path, query, url.fragment))


class SecretValueError(ValueError):
    """A config value holds a secret; the message names the key and never quotes the value."""


def _random_token(value: str) -> bool:
    return any(re.search("[a-z]", run) and re.search("[A-Z]", run) and re.search("[0-9]", run)
               for run in TOKEN_RUN.findall(value))


def secret_problem(key: str, value: Any) -> str | None:
    """What secret ``value``, given for config key ``key``, holds (None: none), in words that do not quote it.

    ``*.api_key_env`` must be a variable's name, not a key: letters, digits and ``_`` with no random-looking run
    (see TOKEN_RUN). Any other value must hold no URL credentials (``user:password@``, a ``?key=`` parameter),
    nothing shaped like an OpenAI key, and a key named like a secret (``api_key``, ``token``) no value at all."""
    if not isinstance(value, str) or not value:
        return None
    name = key.rsplit(".", 1)[-1]
    if name == "api_key_env":
        if not ENV_NAME.fullmatch(value) or _random_token(value):
            return "looks like an API key, not the name of an environment variable"
        return None
    if SECRET.fullmatch(name):
        return "is a secret"
    if URL_CREDENTIALS.search(value) or public_url(value) != value:
        return "is a URL with credentials (user:password@, or a key in its query)"
    if KEY_LIKE.search(value):
        return "holds an API key"
    return None


def secret_advice(key: str) -> str:
    group = key.rpartition(".")[0]
    where = f"{group}.api_key_env" if group else "the api_key_env of the endpoint's group"
    return (f"put the key in an environment variable (e.g. export OPENAI_API_KEY=...) and set {where} to that "
            "variable's name: hins reads keys from the environment only and never writes them to a file")


def override_secret(arg: str) -> str | None:
    """The one-line refusal of a command-line argument that holds a secret (None: it holds none)."""
    key, eq, value = arg.partition("=")
    key = key.lstrip("+~").partition("@")[0] if eq else ""
    if not eq:
        value = arg
    if re.fullmatch(r"\$\{[^{}]*\}", value):  # an interpolation: the schema checks its resolved value
        return None
    problem = secret_problem(key, value)
    if problem is None:
        return None
    return f"the override {key or 'on the command line'} {problem}; {secret_advice(key)}"


def no_secrets_on_the_command_line(main: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a ``hydra.main`` entry point: an override that holds a secret stops it with exit code 2 and one line
    that does not quote it, before Hydra writes the overrides to the run's ``.hydra/`` files, names a sweep's job
    directories after them, or prints them in its "Error executing job with overrides" line. Scrubbing those
    afterwards would miss some; refusing up front misses none."""

    @functools.wraps(main)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for arg in sys.argv[1:]:
            refusal = override_secret(arg)
            if refusal:
                print(f"error: {refusal}", file=sys.stderr)
                sys.exit(2)
        return main(*args, **kwargs)

    return checked


def scrub(text: str, secret: str = "") -> str:
    """``text`` with the key ``secret`` and anything shaped like an OpenAI key replaced, for error messages and
    logs that may quote a server's answer."""
    if secret:
        text = text.replace(secret, "<redacted>")
    return KEY_LIKE.sub("<redacted>", text)


def redact(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("<redacted>" if SECRET.fullmatch(str(k)) and v else redact(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v) for v in node]
    if isinstance(node, str):  # a key in a URL, or pasted where a variable's name belongs
        return scrub(public_url(node))
    return node


def loggable_config(cfg: Any) -> dict[str, Any]:
    """The resolved config (without Hydra's own node) with secrets redacted."""
    plain = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    plain = {k: v for k, v in plain.items() if k != "hydra"}
    return redact(plain)
