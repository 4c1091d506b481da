"""Ctrl-C (SIGINT) and SIGTERM: a run stops cleanly, marks its directory and says how to resume.

During training (single process) the first signal lets the current step finish; a resume checkpoint holding
that step is saved and ``TrainingInterrupted`` is raised (``hins.training.train._StopOnSignal``). Anywhere else SIGINT
raises Python's KeyboardInterrupt and SIGTERM ``Terminated``, its subclass, so stage builds remove their
partial artifacts on the way out. ``hins.run`` then writes ``INTERRUPTED`` into the run directory and exits
with 128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM), as a shell does.
"""

from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Any

MARKER = "INTERRUPTED"


class TrainingInterrupted(BaseException):
    """A signal stopped training between two steps (or at once, on a second Ctrl-C). A BaseException, as
    KeyboardInterrupt is, so no ``except Exception`` on the way up takes it for a failure; and not a
    KeyboardInterrupt, which Lightning answers with ``sys.exit(1)``."""

    def __init__(self, signame: str, step: int, max_steps: int, checkpoint: str | None,
                 checkpoint_step: int | None, resumable: bool):
        super().__init__(f"{signame} at training step {step} of {max_steps}")
        self.signame, self.step, self.max_steps = signame, step, max_steps
        # The resume checkpoint and its step (None: none yet); resumable: False under trainer.resume=false.
        self.checkpoint, self.checkpoint_step, self.resumable = checkpoint, checkpoint_step, resumable


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt (DDP training included: Lightning stops its
    processes on it)."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def raise_on_sigterm() -> None:
    """From now on SIGTERM raises Terminated in the main thread (by default it kills the process on the spot)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)


def resume_command() -> str:
    """The command that ran this process, from its directory and with the variables that place its outputs."""
    env = [f"{k}={shlex.quote(os.environ[k])}" for k in ("HINS_ROOT", "HINS_CACHE") if k in os.environ]
    command = " ".join([*env, "python -m hins.run", *map(shlex.quote, sys.argv[1:])])
    return f"cd {shlex.quote(os.getcwd())} && {command}"


def mark_interrupted(err: BaseException, output_dir: Path) -> tuple[str, int]:
    """Write ``output_dir/INTERRUPTED`` (the signal, the step reached, the checkpoint, the command to resume) and
    return the line to print and the exit code."""
    from hins.core.artifacts import write_json

    signame = getattr(err, "signame", "SIGTERM" if isinstance(err, Terminated) else "SIGINT")
    command = resume_command()
    record: dict[str, Any] = {"signal": signame, "resume": command}
    if isinstance(err, TrainingInterrupted):
        record.update(step=err.step, max_steps=err.max_steps, checkpoint=err.checkpoint,
                      checkpoint_step=err.checkpoint_step)
        where = f"at training step {err.step} of {err.max_steps}"
        if not err.resumable:
            then = "trainer.resume=false: the same command trains from scratch"
        elif err.checkpoint is None:
            then = "no checkpoint yet: the same command trains from scratch"
        else:
            then = f"checkpoint {err.checkpoint} (step {err.checkpoint_step}); the same command resumes from it"
    else:
        where = "outside a training step"
        then = "the same command reuses the finished stages and resumes training from its last checkpoint, if any"
    write_json(output_dir / MARKER, record)
    line = f"interrupted by {signame} {where}; {then}: {command} (see {output_dir / MARKER})"
    return line, 128 + signal.Signals[signame].value
