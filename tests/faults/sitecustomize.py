"""Fault injection for the crash tests, kept out of the library.

A test puts this folder on ``PYTHONPATH`` for the process tree it will kill (Python imports
``sitecustomize`` at start-up, in every ``esans`` process DVC starts too) and sets:

``ESANS_TEST_KILL_AT_STEP=<n>``
    SIGKILL the training run as its n-th batch starts (``esans.trainer.batch_loss`` wrapped).
``ESANS_TEST_HOLD_PUBLISH=<folder name>``
    an atomic publish of that output (``esans.io.atomic_dir``) stops with the new output fully
    written but not yet renamed into place, after touching ``.<name>.holding`` beside it.

The patches are applied as the modules are first imported, before anything else imports
from them.
"""

import contextlib
import importlib.abc
import importlib.util
import os
import signal
import sys
import time
from pathlib import Path


def _kill_at_step(mod, n: int) -> None:
    real, calls = mod.batch_loss, [0]

    def batch_loss(*args, **kwargs):
        calls[0] += 1
        if calls[0] == n:
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args, **kwargs)

    mod.batch_loss = batch_loss


def _hold_publish(mod, name: str) -> None:
    real = mod.atomic_dir

    @contextlib.contextmanager
    def atomic_dir(target):
        with real(target) as tmp:
            yield tmp
            if Path(target).name == name:
                (Path(target).parent / f".{name}.holding").touch()
                time.sleep(3600)

    mod.atomic_dir = atomic_dir


PATCHES = {}
if os.environ.get("ESANS_TEST_KILL_AT_STEP"):
    PATCHES["esans.trainer"] = lambda m: _kill_at_step(m, int(os.environ["ESANS_TEST_KILL_AT_STEP"]))
if os.environ.get("ESANS_TEST_HOLD_PUBLISH"):
    PATCHES["esans.io"] = lambda m: _hold_publish(m, os.environ["ESANS_TEST_HOLD_PUBLISH"])


class _Patcher(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in PATCHES:
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        real_exec = spec.loader.exec_module

        def exec_module(module):
            real_exec(module)
            PATCHES.pop(name)(module)

        spec.loader.exec_module = exec_module
        return spec


if PATCHES:
    sys.meta_path.insert(0, _Patcher())
