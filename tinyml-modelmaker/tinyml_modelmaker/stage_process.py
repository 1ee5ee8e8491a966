"""Run a stage's heavy work in a process of its own.

A Python process cannot give back the modules it imported: a run done in one process ends up holding
torch, the parsed data's parser (pyarrow), the FFT (scipy), onnx, onnxruntime and matplotlib at once,
about 540 MiB. The run's own process stays light (config, run folder, summary) and each stage's
work runs in a fresh interpreter that exits when the stage is done, so at any moment one stage's
imports and data are resident, next to the run process's ~40 MiB.

``call("package.module:function", *args)`` runs the function in a child ``python -m
tinyml_modelmaker.stage_process`` and returns what it returned; an error raised there is raised here
(same type and message: a ``TinyMLError`` is still printed without a traceback), Ctrl-C stops both
(the child gets the interrupt too and finishes its clean-up first, e.g. training's checkpoint).
Arguments and results travel as pickles through a private temporary folder the parent makes; the
child's standard output is passed on to this process's ``sys.stdout`` as it comes, its standard
error goes to the terminal directly (progress bars).

Which work goes to a child is the layout (:func:`layout`, ``TINYML_STAGE_PROCESSES``): by default
(``light``) the work without torch (the dataset stage, the training report's plots and onnxruntime
check, testing, compilation) runs in children, and the model check and the training (with QAT and
the export) in the run's process, which so imports torch once (the first epoch starts as soon as in
one process). Before a child starts, this process gives back what it freed and its run-once code
(``release_free_memory``). Measured (docs/performance.md): the whole benchmark run peaks at about
340 MiB for the process tree, against about 470 MiB in one process.
"""

from __future__ import annotations

import atexit
import codecs
import importlib
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

from tinyml_tinyverse.common.errors import ConfigError, ModelError, TinyMLError

ENV_SWITCH = "TINYML_STAGE_PROCESSES"
OK, ERROR, INTERRUPTED = "ok", "error", "interrupted"


ALL, LIGHT, OFF = "all", "light", "off"  # the layouts ENV_SWITCH selects; LIGHT unless it is set


def layout() -> str:
    """Which stage work runs in a process of its own: ``light`` (the default): the work without torch
    (dataset, the training report, testing, compilation), while the model check and the training run in
    the run's process, which imports torch once; ``all`` (``TINYML_STAGE_PROCESSES=1``): every stage's
    work; ``off`` (``=0``): none."""
    value = os.environ.get(ENV_SWITCH, LIGHT).strip().lower()
    if value in ("1", "true", "yes", "on", ALL):
        return ALL
    if value in ("0", "false", "no", OFF, "none"):
        return OFF
    if value != LIGHT:
        raise ConfigError(
            f"{ENV_SWITCH}={value!r} is not a layout; use {LIGHT} (the default), {ALL} (1) or {OFF} (0)"
        )
    return LIGHT


def isolates(torch_work: bool = False) -> bool:
    """Whether work of this kind (``torch_work``: it imports torch) runs in a process of its own."""
    return layout() == ALL or (layout() == LIGHT and not torch_work)


def resolve(target: str):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def call(target: str, *args: Any, torch_work: bool = False, **kwargs: Any) -> Any:
    """``target(*args, **kwargs)`` (``"module:function"``) in a child process when the layout isolates
    work of its kind (:func:`isolates`), else here; see the module docstring."""
    return call_measured(target, *args, torch_work=torch_work, **kwargs)[0]


def call_measured(
    target: str, *args: Any, torch_work: bool = False, **kwargs: Any
) -> tuple[Any, float | None]:
    """As :func:`call`; also the child's peak resident memory in MiB (None in-process)."""
    if not isolates(torch_work):
        return resolve(target)(*args, **kwargs), None
    from tinyml_tinyverse.common.utils.memory import release_free_memory

    release_free_memory()  # this process waits while the child works: what it freed is not held meanwhile
    global _started
    started, _started = _started, None
    folder = started[1] if started else Path(tempfile.mkdtemp(prefix="tinyml_stage_"))  # mode 0700
    try:
        request, reply = folder / "request.pkl", folder / "reply.pkl"
        request.write_bytes(pickle.dumps((target, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL))
        if started:  # started ahead and waiting for its request
            proc = started[0]
            proc.stdin.write(b"go\n")
            proc.stdin.close()
        else:
            proc = _start(folder)
        interrupted = _wait(proc)
        if not reply.is_file():
            if interrupted or proc.returncode in (-signal.SIGINT, 130):
                raise KeyboardInterrupt
            raise ModelError(
                f"the process running {target} ended without a result (exit code {proc.returncode}"
                f"{', killed: out of memory?' if proc.returncode == -signal.SIGKILL else ''}); see the messages above"
            )
        status, value, peak = pickle.loads(reply.read_bytes())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if status == INTERRUPTED or interrupted:
        raise KeyboardInterrupt
    if status == ERROR:
        raise value
    return value, peak


_started: tuple[subprocess.Popen, Path] | None = None  # a child started ahead (start_ahead), unused yet


def _start(folder: Path, module: str | None = None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")  # its lines arrive when printed
    command = [sys.executable, "-m", __name__, str(folder), *([module] if module else [])]
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stdin=subprocess.PIPE if module else None, env=env
    )


def start_ahead(module: str) -> None:
    """Start the process of the next call that runs in a child now: it imports ``module`` (Python, numpy,
    the stage code: about 0.3 s and 40 MiB) while this process goes on (the run's model check), then
    waits for its request. The run starts it only when its next call, the dataset stage, comes right
    after the check. Unused, it ends when this process does."""
    global _started
    if _started is None and isolates():
        folder = Path(tempfile.mkdtemp(prefix="tinyml_stage_"))
        _started = (_start(folder, module), folder)


def _drop_started() -> None:
    global _started
    if _started is not None:
        proc, folder = _started
        _started = None
        proc.stdin.close()  # it reads the end of its input and ends
        proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


atexit.register(_drop_started)  # a child started ahead and never used ends with this process


def _wait(proc: subprocess.Popen, grace_s: float = 5.0) -> bool:
    """Pass the child's output on until it ends; True when interrupted. A terminal's Ctrl-C reaches
    the child too, which cleans up and ends; an interrupt of this process alone is passed on after
    ``grace_s``; a second Ctrl-C stops the child at once."""
    interrupted = False
    timer = None
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    try:
        while True:
            try:
                _forward(proc, decoder)  # until the child's end closes its output
                proc.wait()
                return interrupted
            except KeyboardInterrupt:
                if interrupted:
                    proc.kill()
                interrupted = True
                if timer is None:
                    timer = threading.Timer(grace_s, _interrupt, (proc,))
                    timer.daemon = True
                    timer.start()
    finally:
        if timer is not None:
            timer.cancel()


def _interrupt(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.send_signal(signal.SIGINT)
        except ProcessLookupError:
            pass


def _forward(proc: subprocess.Popen, decoder) -> None:
    """The child's standard output, as it comes, onto this process's ``sys.stdout`` (so a redirect
    or capture of the run's output has the stage's too); its standard error goes to the terminal
    directly (progress bars)."""
    fd = proc.stdout.fileno()
    while True:
        chunk = os.read(fd, 1 << 16)
        text = decoder.decode(chunk, final=not chunk)
        if text:
            sys.stdout.write(text)
            sys.stdout.flush()
        if not chunk:
            return


def _peak_rss_mib() -> float | None:
    from tinyml_tinyverse.common.utils.memory import peak_rss_mib

    return round(peak_rss_mib(), 1)


def _child(folder: Path) -> int:
    target, args, kwargs = pickle.loads((folder / "request.pkl").read_bytes())
    try:
        value = resolve(target)(*args, **kwargs)
        outcome = (OK, value, _peak_rss_mib())
        code = 0
    except KeyboardInterrupt:
        outcome, code = (INTERRUPTED, None, _peak_rss_mib()), 130
    except BaseException as exc:  # raised again in the parent, where it is reported
        if not isinstance(exc, TinyMLError):  # a bug, not the user's input: where it happened
            traceback.print_exc()
        try:
            pickle.dumps(exc)
        except Exception:
            exc = ModelError(f"{type(exc).__name__}: {exc}")
        outcome, code = (ERROR, exc, _peak_rss_mib()), 1
    tmp = folder / "reply.tmp"
    tmp.write_bytes(pickle.dumps(outcome, protocol=pickle.HIGHEST_PROTOCOL))
    os.replace(tmp, folder / "reply.pkl")
    return code


def _wait_for_request(module: str) -> bool:
    """A child started ahead: import ``module``, then wait for the parent's go; False when the parent
    ended or was interrupted without sending it."""
    try:
        importlib.import_module(module)
        return sys.stdin.readline() == "go\n"
    except KeyboardInterrupt:
        return False


if __name__ == "__main__":
    if len(sys.argv) > 2 and not _wait_for_request(sys.argv[2]):
        sys.exit(0)
    sys.exit(_child(Path(sys.argv[1])))
