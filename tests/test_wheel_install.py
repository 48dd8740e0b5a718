"""A non-editable install: build the wheel, install it into a folder, and use it from there.

The demo checkpoints ship with the repository, not with the package, so an installed unimotion must not
look for them relative to its own files (``parents[3]`` of a module is ``lib/`` in a venv); it finds them
through ``$UNIMOTION_CHECKPOINTS`` or says how to give them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The wheel built from a copy of the sources (no build files in the checkout), installed with
    ``pip install --no-deps --target`` (the dependencies come from this environment)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src_copy"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    built = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(tmp / "dist"),
                            str(src)], capture_output=True, text=True, timeout=300)
    if built.returncode != 0:
        pytest.skip(f"cannot build the wheel here (setuptools/wheel missing?): {built.stderr.strip()[-300:]}")
    wheel = next((tmp / "dist").glob("unimotion-*.whl"))
    target = tmp / "site"
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True,
                   capture_output=True, text=True, timeout=300)
    return target


def _run(installed: Path, code: str, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "UNIMOTION_CHECKPOINTS")}
    environ.update(PYTHONPATH=str(installed), **env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=environ,
                          cwd=installed.parent)


@pytest.mark.slow
def test_wheel_holds_the_package_and_no_checkpoints(installed):
    wheel = next((installed.parent / "dist").glob("unimotion-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "unimotion/pipelines/unimotion.py" in names and "unimotion/utils/paths.py" in names
    assert not [n for n in names if n.startswith("checkpoints/") or n.endswith(".safetensors")]


@pytest.mark.slow
def test_installed_package_finds_checkpoints_only_where_told(installed):
    probe = ("import unimotion, unimotion.utils.paths as p; print(unimotion.__file__); "
             "print(p.repository_root()); print(p.checkpoints_dir())\n"
             "from unimotion.pipelines.unimotion import default_pipeline_path\n"
             "try:\n    print(default_pipeline_path())\nexcept Exception as e:\n    print(type(e).__name__, e)")
    out = _run(installed, probe)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith(str(installed))  # the installed copy, not the checkout
    assert lines[1] == "None" and lines[2] == "None"
    assert lines[3].startswith("CheckpointError") and "UNIMOTION_CHECKPOINTS" in lines[3]
    assert "--checkpoint" in lines[3]
    out = _run(installed, probe, UNIMOTION_CHECKPOINTS=str(REPO / "checkpoints"))
    assert out.stdout.strip().splitlines()[3] == str(REPO / "checkpoints" / "unimotion_bandaiml")


@pytest.mark.slow
def test_installed_cli_says_how_to_give_a_checkpoint(installed):
    code = "import sys; from unimotion.cli import main; sys.exit(main(['generate', 'a person walks', '-o', 'x.gif']))"
    out = _run(installed, code)
    assert out.returncode == 2
    assert "UNIMOTION_CHECKPOINTS" in out.stderr and "Traceback" not in out.stderr


def test_source_checkout_keeps_its_default():
    from unimotion.utils.paths import checkpoints_dir, repository_root

    if os.environ.get("UNIMOTION_CHECKPOINTS"):
        pytest.skip("UNIMOTION_CHECKPOINTS is set")
    assert repository_root() == REPO
    assert checkpoints_dir() == REPO / "checkpoints"
