"""Regression tests of issue 22 (hostile input and faults) that are not about one corpus file.

Limits (named, overridable, checked before allocating), retarget output checks, checkpoint loading from
untrusted folders, atomic / exclusive writes, stale temporaries, and the CLI's one-line errors.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from unimotion import limits
from unimotion.cli import main
from unimotion.errors import (
    BVHError,
    CheckpointError,
    FileAccessError,
    InputError,
    LimitError,
    OutputExistsError,
    RetargetError,
    UnimotionError,
)
from unimotion.io.bvh import BVHMotion, parse_bvh, read_bvh
from unimotion.io.retarget import retarget_bvh, retarget_to_t2m
from unimotion.utils import io as uio

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "bvh"


# ------------------------------------------------------------------------------------------ limits
def test_every_limit_is_documented_and_overridable(monkeypatch):
    doc = limits.__doc__
    for name, lim in limits.LIMITS.items():
        assert name in doc, f"{name} missing from the unimotion.limits table"
        assert limits.get(name) == lim.default
        monkeypatch.setenv(limits.env_name(name), str(lim.default * 2))
        assert limits.get(name) == lim.default * 2
        monkeypatch.delenv(limits.env_name(name))
        with limits.override(**{name: lim.default * 3}):
            assert limits.get(name) == lim.default * 3
        assert limits.get(name) == lim.default
    monkeypatch.setenv("UNIMOTION_LIMIT_BVH_MAX_JOINTS", "lots")
    with pytest.raises(LimitError, match="not a number"):
        limits.get("BVH_MAX_JOINTS")


def _chain(num_joints: int, frames: int = 2, frame_time: str = "0.05") -> str:
    lines = ["HIERARCHY"]
    for i in range(num_joints):
        lines += [f"{'ROOT' if i == 0 else 'JOINT'} j{i}", "{", "OFFSET 0 1 0", "CHANNELS 3 Zrotation Xrotation Yrotation"]
    lines += ["}"] * num_joints + ["MOTION", f"Frames: {frames}", f"Frame Time: {frame_time}"]
    lines += [" ".join(["0"] * (3 * num_joints))] * frames
    return "\n".join(lines) + "\n"


def test_bvh_limits_name_themselves_and_can_be_raised(monkeypatch):
    text = _chain(40)
    with limits.override(BVH_MAX_DEPTH=30):
        with pytest.raises(BVHError) as info:
            parse_bvh(text)
    assert isinstance(info.value, LimitError) and info.value.limit == "BVH_MAX_DEPTH"
    assert "UNIMOTION_LIMIT_BVH_MAX_DEPTH" in str(info.value) and info.value.line is not None
    monkeypatch.setenv("UNIMOTION_LIMIT_BVH_MAX_JOINTS", "20")
    with pytest.raises(LimitError, match="BVH_MAX_JOINTS"):
        parse_bvh(text)
    monkeypatch.setenv("UNIMOTION_LIMIT_BVH_MAX_JOINTS", "40")
    assert parse_bvh(text).num_joints == 40


def test_deep_hierarchies_parse_in_linear_time():
    """A chain 8 times deeper costs about 8 times more, not 64 (no quadratic step in parsing or checking)."""
    def per_joint(n: int) -> float:
        text = _chain(n)
        return min(_timed(lambda: read_bvh(text)) for _ in range(5)) / n

    with limits.override(BVH_MAX_DEPTH=5000, BVH_MAX_JOINTS=5000):
        small, large = per_joint(128), per_joint(1024)
    assert large < 3 * small, (small, large)


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


@pytest.mark.parametrize("header, limit", [
    ("Frames: 400000000\nFrame Time: 0.01", "BVH_MAX_FRAMES"),
    ("Frames: 2\nFrame Time: 1000", "BVH_MAX_FRAME_TIME"),
    ("Frames: 2\nFrame Time: 1e-320", "BVH_MIN_FRAME_TIME"),
    ("Frames: 400000\nFrame Time: 1", "BVH_MAX_SECONDS"),
])
def test_declared_sizes_are_refused_before_allocating(header, limit):
    text = _chain(3, frames=0).split("MOTION")[0] + "MOTION\n" + header + "\n" + "0 0 0 0 0 0 0 0 0\n" * 2
    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(LimitError) as info:
        read_bvh(text)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert info.value.limit == limit and elapsed < 1.0 and peak < 20e6


def test_magnitudes_no_body_has_are_refused():
    motion = read_bvh(FIXTURES / "cmu_style.bvh")
    with pytest.raises(LimitError, match="BVH_MAX_COORDINATE"):
        BVHMotion(motion.names, motion.parents, motion.offsets * 1e30, motion.channels, motion.values,
                  motion.frame_time, motion.end_sites)
    # within the BVH limits but kilometres big once in metres: the retargeter refuses it
    huge = motion.scaled(1e4)
    with pytest.raises(RetargetError, match="MOTION_MAX_ABS"):
        retarget_to_t2m(huge, units="m")


def test_retarget_checks_the_resampled_size_before_allocating():
    motion = read_bvh(FIXTURES / "cmu_style.bvh")
    with limits.override(BVH_MAX_FRAME_JOINTS=motion.num_joints * 10):
        with pytest.raises(RetargetError, match="BVH_MAX_FRAME_JOINTS"):
            retarget_to_t2m(motion, target_fps=10_000.0)
    out = retarget_bvh(motion)
    assert np.isfinite(out.joints).all() and np.isfinite(out.local_translations).all()


def test_non_finite_retarget_output_is_an_error(monkeypatch):
    import unimotion.io.retarget as rt

    motion = read_bvh(FIXTURES / "cmu_style.bvh")
    real = rt.forward_kinematics

    def nan_fk(*args, **kwargs):
        pos, rot = real(*args, **kwargs)
        pos = pos.copy()
        pos[0, 0, 0] = np.nan
        return pos, rot

    monkeypatch.setattr(rt, "forward_kinematics", nan_fk)
    with pytest.raises(RetargetError, match="NaN"):
        retarget_to_t2m(motion, units="cm", up_axis="Y")


def test_npy_header_is_checked_and_mmap_slices(tmp_path):
    arr = np.arange(24 * 22 * 3, dtype=np.float32).reshape(24, 22, 3)
    np.save(tmp_path / "a.npy", arr)
    mm = uio.load_npy(tmp_path / "a.npy", mmap=True)
    assert isinstance(mm, np.memmap) and np.array_equal(mm[3:5], arr[3:5])
    with limits.override(NPY_MAX_BYTES=1000):
        with pytest.raises(LimitError, match="NPY_MAX_BYTES"):
            uio.load_npy(tmp_path / "a.npy")
    np.save(tmp_path / "o.npy", np.array([1, "x"], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="never unpickled"):
        uio.load_npy(tmp_path / "o.npy")
    with pytest.raises(FileNotFoundError):  # MissingFileError is also a FileNotFoundError
        uio.load_npy(tmp_path / "missing.npy")


def test_read_limited_refuses_before_reading(tmp_path):
    big = tmp_path / "big.json"
    big.write_text("[" + "0," * 1000 + "0]")
    with limits.override(TEXT_MAX_BYTES=100):
        with pytest.raises(LimitError, match="TEXT_MAX_BYTES"):
            uio.read_json_limited(big)
    with pytest.raises(InputError, match="nests too deeply|not valid JSON"):
        (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
        uio.read_json_limited(tmp_path / "deep.json")


# ------------------------------------------------------------------------------------------ checkpoints
@pytest.fixture
def tiny_ckpt(tmp_path):
    sys.path.insert(0, str(REPO / "tests" / "fuzz"))
    from hostile import tiny_checkpoint

    path = tmp_path / "ckpt"
    tiny_checkpoint(path)
    return path


def test_config_disagreeing_with_weights_is_refused_before_allocating(tiny_ckpt):
    """A config asking for ~130 GB of conv weights: the meta-device check refuses it at once (the old loader
    allocated the model first)."""
    cfg = json.loads((tiny_ckpt / "config.json").read_text())
    cfg.update(stem_channels=60000, mid_channels=60000, low_channels=60000, feature_dim=60000)
    (tiny_ckpt / "config.json").write_text(json.dumps(cfg))
    code = ("import resource, sys\nfrom unimotion.models.modeling_utils import load_pretrained\n"
            "from unimotion.errors import CheckpointError\n"
            f"try:\n    load_pretrained({str(tiny_ckpt)!r})\nexcept CheckpointError as e:\n    print('refused', e)\n"
            "print('maxrss_mb', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert "refused" in out.stdout and "does not match its config.json" in out.stdout, out.stdout + out.stderr
    assert float(out.stdout.split("maxrss_mb")[1]) < 1500


def test_checkpoint_files_are_capped_and_weights_checked(tiny_ckpt):
    from unimotion.models.modeling_utils import load_pretrained

    assert load_pretrained(tiny_ckpt).notice == "generated for the robustness tests"
    with limits.override(CHECKPOINT_MAX_NOTICE_BYTES=10):
        with pytest.raises(CheckpointError, match="CHECKPOINT_MAX_NOTICE_BYTES"):
            load_pretrained(tiny_ckpt)
    with limits.override(CHECKPOINT_MAX_JSON_BYTES=10):
        with pytest.raises(CheckpointError, match="CHECKPOINT_MAX_JSON_BYTES"):
            load_pretrained(tiny_ckpt)
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(tiny_ckpt / "model.safetensors"))
    name = sorted(tensors)[-1]
    tensors[name] = tensors[name].float().fill_(float("inf"))
    save_file(tensors, str(tiny_ckpt / "model.safetensors"))
    with pytest.raises(CheckpointError, match=re.escape(name)):
        load_pretrained(tiny_ckpt)


def test_tokenizer_folder_with_custom_code_is_refused(tmp_path):
    """A tokenizer folder that asks for its own Python class is refused, never imported (no y/N prompt)."""
    from unimotion.models.unimotion.tokenizer import default_tokenizer, load_tokenizer

    folder = tmp_path / "tok"
    default_tokenizer().save_pretrained(str(folder))
    cfg = json.loads((folder / "tokenizer_config.json").read_text())
    cfg["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    cfg["tokenizer_class"] = "EvilTokenizer"
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg))
    marker = tmp_path / "executed"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n")
    with pytest.raises(CheckpointError):
        load_tokenizer(folder)
    assert not marker.exists()
    with limits.override(CHECKPOINT_MAX_TOKENIZER_BYTES=100):
        with pytest.raises(CheckpointError, match="CHECKPOINT_MAX_TOKENIZER_BYTES"):
            load_tokenizer(folder)


def test_every_transformers_loader_pins_trust_remote_code():
    pattern = re.compile(r"Auto\w+\.from_(?:pretrained|config)\((?:[^()]|\([^()]*\))*\)", re.S)
    calls = []
    for path in (REPO / "src").rglob("*.py"):
        for m in pattern.finditer(path.read_text()):
            calls.append((path.name, m.group(0)))
    assert calls
    for name, call in calls:
        assert "trust_remote_code=False" in call, f"{name}: {call}"


# ------------------------------------------------------------------------------------------ writes
def test_no_clobber_refuses_a_path_that_appeared(tmp_path):
    target = tmp_path / "out.txt"
    with uio.no_clobber():
        with pytest.raises(OutputExistsError, match="appeared while this command ran"):
            with uio.atomic_path(target) as tmp:
                tmp.write_text("mine")
                target.write_text("theirs")  # another process finished first
        assert target.read_text() == "theirs"
        assert not [p for p in tmp_path.iterdir() if p.name != "out.txt"]  # no temporary left
        uio.write_text(tmp_path / "new.txt", "fine")
    uio.write_text(target, "replaced")  # outside no_clobber: the usual atomic replace
    assert target.read_text() == "replaced"


def test_write_errors_are_file_access_errors(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uio.tempfile, "mkstemp", full)
    with pytest.raises(FileAccessError, match="no space left on device"):
        uio.write_text(tmp_path / "x.txt", "data")
    monkeypatch.undo()

    def read_only(src, dst):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(uio.os, "replace", read_only)
    with pytest.raises(FileAccessError, match="read-only file system"):
        uio.write_text(tmp_path / "y.txt", "data")
    assert not list(tmp_path.iterdir())


def test_stale_temporaries_are_removed_under_the_lock(tmp_path):
    (tmp_path / "sub").mkdir()
    stale = [tmp_path / ".000001.ab12cd.npy.tmp.npy", tmp_path / "sub" / ".m.q1w2e3.npz.tmp.npz"]
    for p in stale:
        p.write_bytes(b"half written")
    (tmp_path / ".ckpt.x1y2.tmp").mkdir()
    keep = [tmp_path / "000001.npy", tmp_path / ".build" / "a.json"]
    keep[1].parent.mkdir()
    for p in keep:
        p.write_bytes(b"done")
    assert uio.remove_stale_temporaries(tmp_path) == []  # too recent for an unlocked clean-up
    with uio.exclusive_folder(tmp_path, lock_name=".build/lock") as removed:
        assert sorted(removed) == sorted(stale + [tmp_path / ".ckpt.x1y2.tmp"])
        with pytest.raises(FileAccessError, match="another process"):
            with uio.exclusive_folder(tmp_path, lock_name=".build/lock"):
                pass
    assert all(p.exists() for p in keep) and not any(p.exists() for p in stale)


@pytest.mark.bandai
@pytest.mark.slow
def test_interrupted_build_leaves_no_temporaries(bandai_dir, tmp_path):
    from unimotion.data.bandai import BuildConfig, build_bandai

    out = tmp_path / "ml"
    cfg = BuildConfig(renders=False, smplx=False)
    build_bandai(bandai_dir, out, cfg, workers=1, include=["dataset-1_bow_*_001"], progress=False)
    orphan = out / "new_joints" / ".000000.k9l8m7.npy.tmp.npy"  # what a killed build leaves
    orphan.write_bytes(b"\x93NUMPY partial")
    build_bandai(bandai_dir, out, cfg, workers=1, include=["dataset-1_bow_*_001"], progress=False)
    assert not orphan.exists()
    assert not [p for p in out.rglob("*") if uio.TEMPORARY_RE.match(p.name)]


# ------------------------------------------------------------------------------------------ CLI
def test_unexpected_failures_are_one_line_unless_debug(monkeypatch, capsys, tmp_path):
    import unimotion.cli.render as render_cli

    def boom(*args, **kwargs):
        raise ZeroDivisionError("kaboom")

    monkeypatch.setattr(render_cli, "load_motion", boom)
    args = ["render", str(FIXTURES / "simple.bvh"), "-o", str(tmp_path / "x.gif")]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ZeroDivisionError" in err and "--debug" in err and "Traceback" not in err
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *args])
    monkeypatch.setenv("UNIMOTION_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(args)


def test_cli_file_system_failures_are_one_line(monkeypatch, capsys, tmp_path):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(uio.tempfile, "mkstemp", full)
    rc = main(["render", str(FIXTURES / "cmu_style.bvh"), "-o", str(tmp_path / "x.gif"), "--size", "32"])
    err = capsys.readouterr().err
    assert rc == 2 and "no space left on device" in err and "Traceback" not in err
    monkeypatch.undo()
    rc = main(["render", str(tmp_path / "missing.bvh"), "-o", str(tmp_path / "x.gif")])
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_error_messages_survive_undecodable_file_names(capsys, tmp_path):
    name = os.fsdecode(b"caf\xe9.bvh")  # a lone surrogate in the str (Latin-1 name on a UTF-8 system)
    rc = main(["render", str(tmp_path / name), "-o", str(tmp_path / "x.gif")])
    assert rc == 2 and "not found" in capsys.readouterr().err


def test_library_errors_are_unimotion_errors():
    for cls in (LimitError, FileAccessError, OutputExistsError):
        assert issubclass(cls, UnimotionError)
