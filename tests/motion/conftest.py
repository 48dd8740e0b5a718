"""Fixtures of the motion tests: the reference implementations from ``benchmarks/`` (our per-frame reading
of HumanML3D and a transcription of the original code)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

_BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def load_reference(stem: str = "hml3d_reference") -> ModuleType:
    """``benchmarks/<stem>.py`` as a module (benchmarks/ is not a package)."""
    name = f"unimotion_bench_{stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _BENCHMARKS / f"{stem}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def reference() -> ModuleType:
    return load_reference()


@pytest.fixture(scope="session")
def original() -> ModuleType:
    """``benchmarks/hml3d_original.py``: the original HumanML3D functions, transcribed."""
    return load_reference("hml3d_original")
