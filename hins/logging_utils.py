"""What of a run may be logged: the resolved config, with anything secret-looking removed."""

from __future__ import annotations

import re
from typing import Any

from omegaconf import OmegaConf

SECRET = re.compile(r"(api[_-]?key|token|secret|password)", re.IGNORECASE)
JOB_START = "job starting in"  # hins.run logs it first on every attempt at a job; hins.aggregate splits run.log there


def redact(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: ("<redacted>" if SECRET.search(str(k)) and v else redact(v)) for k, v in node.items()}
    if isinstance(node, list):
        return [redact(v) for v in node]
    return node


def loggable_config(cfg: Any) -> dict[str, Any]:
    """The resolved config (without Hydra's own node) with secrets redacted."""
    plain = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    plain = {k: v for k, v in plain.items() if k != "hydra"}
    return redact(plain)
