"""What of a run may be logged: the resolved config, with anything secret-looking removed."""

from __future__ import annotations

import re
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
