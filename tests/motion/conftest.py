"""Fixtures of the motion tests: the per-frame reference implementation from ``benchmarks/``."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_REFERENCE = Path(__file__).resolve().parents[2] / "benchmarks" / "hml3d_reference.py"


def load_reference() -> ModuleType:
    """``benchmarks/hml3d_reference.py`` as a module (benchmarks/ is not a package)."""
    name = "unimotion_bench_hml3d_reference"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _REFERENCE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    return load_reference()
