"""Can the Hugging Face Hub be reached? Asked in seconds, before work that would download from it.

Without this check a download from an unreachable Hub fails only after minutes of retries, with an error that
says nothing about what to do instead; callers turn the reason into their own message.
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

_TRUE = {"1", "on", "yes", "true"}


def hub_host() -> str:
    """The Hub's host name (``HF_ENDPOINT`` may point at a mirror)."""
    from huggingface_hub import constants

    return urlparse(constants.ENDPOINT).hostname or "huggingface.co"


def hub_unreachable(timeout_s: float = 3.0) -> str | None:
    """None when a TCP connection to the Hub's port 443 opens within ``timeout_s``; else why not."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return "HF_HUB_OFFLINE is set"
    host = hub_host()
    try:
        socket.create_connection((host, 443), timeout=timeout_s).close()
    except OSError as err:
        return f"{host}:443 is not reachable ({err})"
    return None
