"""`unimotion serve`: options, their checks, and a command line that does not import the web stack."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unimotion.cli import build_parser
from unimotion.errors import InputError

REPO = Path(__file__).resolve().parents[2]


def _args(*argv):
    return build_parser().parse_args(["serve", *argv])


def test_defaults_listen_on_loopback_port_8000():
    from unimotion.cli.serve import build_config

    args = _args()
    assert (args.host, args.port) == ("127.0.0.1", 8000)
    cfg = build_config(args)
    assert cfg.unimotion_checkpoint.name == "unimotion_bandaiml" and cfg.preload and cfg.torch_threads == 1
    assert cfg.max_pending == 4 and cfg.job_timeout_s == 60


def test_options_reach_the_config(tmp_path):
    from unimotion.cli.serve import build_config

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    cfg = build_config(_args("--checkpoint", str(ckpt), "--max-pending", "2", "--timeout", "5", "--max-upload-mb", "1",
                             "--no-preload", "--threads", "2"))
    assert cfg.unimotion_checkpoint == ckpt and cfg.max_pending == 2 and cfg.job_timeout_s == 5
    assert cfg.max_upload_bytes == 2**20 and cfg.max_motion_upload_bytes == 2**20 and not cfg.preload
    assert cfg.torch_threads == 2


@pytest.mark.parametrize("argv,words", [
    (["--port", "0"], "--port"),
    (["--port", "70000"], "--port"),
    (["--threads", "0"], "--threads"),
    (["--max-pending", "0"], "max_pending"),
    (["--timeout", "-1"], "job_timeout_s"),
    (["--checkpoint", "/nonexistent/unimotion"], "no such folder"),
])
def test_bad_options_are_input_errors(argv, words):
    from unimotion.cli.serve import build_config

    with pytest.raises(InputError, match=words.replace("-", r"\-")):
        build_config(_args(*argv))


def test_command_line_does_not_import_the_web_stack():
    code = ("import sys, unimotion.cli as c; c.build_parser(); "
            "print(any(m in sys.modules for m in ('fastapi', 'uvicorn', 'starlette')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
