"""UniMotion from the command line: ``unimotion generate | caption | predict | edit``.

    unimotion generate "a person waves the right hand" -o wave.gif --bvh wave.bvh
    unimotion caption motion.bvh
    unimotion predict motion.bvh -o continued.gif --seconds 3
    unimotion edit motion.bvh "now do it happily" -o edited.gif --bvh edited.bvh

Every command loads a :class:`~unimotion.pipelines.unimotion.UniMotionPipeline` directory (``--checkpoint``;
default: the demo checkpoint ``checkpoints/unimotion_bandaiml`` shipped with the repository, trained on
BandaiML — non-commercial, see its NOTICE).

**Motion inputs** (caption / predict / edit): a ``.bvh`` file of any rig (read with
:mod:`unimotion.io.bvh`, retargeted to the 22-joint layout at the pipeline's frame rate by
:mod:`unimotion.io.retarget`; ``--rig`` picks a preset mapping), a ``.npy`` with joint positions (T, 22, 3)
in metres (Y up, at the pipeline's fps) or un-normalised features (T, 269 | 263), or a ``.npz`` written by
these commands (its ``features``). ``--start``/``--max-seconds`` cut the input.

**Outputs** (generate / predict / edit): ``-o`` names the main file, whose extension picks the format —
``.gif`` (stick figure, :mod:`unimotion.io.render`), ``.mp4`` (needs an encoder), ``.bvh``
(:func:`unimotion.io.bvh_export.save_bvh`, SMPL-style hierarchy in centimetres) or ``.npz`` (features,
joints, latents, fps, prompt); ``--bvh`` / ``--npz`` add more. Existing files are never replaced without
``--overwrite``.

**Checks first.** Every argument — text, lengths against the pipeline's frame rate and minimums (read from
its ``pipeline.json``), sampling options, output files, the input motion — is checked before the model is
loaded; only the longest accepted length needs the loaded model.

**Threads.** ``--threads N`` sets torch's CPU threads. Default: 1 (unless ``OMP_NUM_THREADS`` is set): one
motion at a time is a chain of small operations, which gain nothing from a second thread on a quiet
machine and lose many times over on a busy one (measured in ``docs/results/startup.md``).
"""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..utils.logging import get_logger

log = get_logger(__name__)

MOTION_OUTPUTS = (".gif", ".mp4", ".bvh", ".npz")


# ============================================================================================ registration
def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", default=None,
                   help="UniMotion pipeline directory (default: the repository's checkpoints/unimotion_bandaiml)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (default 1, or OMP_NUM_THREADS when set; see the description)")


def _sampling(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    p.add_argument("--steps", type=int, default=None, help="Euler steps (default: the checkpoint's, 50)")
    p.add_argument("--cfg", type=float, default=None, help="classifier-free guidance weight (default: the checkpoint's, 3.0)")


def _outputs(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("-o", "--output", default=default,
                   help=f"main output; the extension picks the format: {', '.join(MOTION_OUTPUTS)} (default {default})")
    p.add_argument("--bvh", default=None, help="also write the motion as a BVH file")
    p.add_argument("--bvh-positions", choices=("root", "all"), default="root",
                   help="BVH channels: root = rotations with the root position (portable; exact only for a "
                        "rigid skeleton, a warning says when it is not), all = positions on every joint "
                        "(reproduces every joint exactly) (default root)")
    p.add_argument("--npz", default=None, help="also write features, joints and latents as an NPZ file")
    p.add_argument("--size", type=int, default=256, help="height of the rendered GIF/MP4 in pixels (default 256)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")


def _length(p: argparse.ArgumentParser, what: str) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--seconds", type=float, default=None, help=f"{what} in seconds")
    g.add_argument("--frames", type=int, default=None, help=f"{what} in frames (at the checkpoint's fps, 20)")


def _motion_input(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", help="motion file: .bvh (any rig), .npy (joints (T,22,3) or features (T,269|263)) or .npz")
    p.add_argument("--rig", default="auto",
                   help="BVH joint mapping: auto (names + topology), bandai, cmu or mixamo (default auto)")
    p.add_argument("--start", type=float, default=0.0, help="skip this many seconds of the input (default 0)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="use at most this many seconds of the input (default: all, up to the model's limit)")


def register(subparsers) -> None:
    p = subparsers.add_parser("generate", help="text → motion (GIF / BVH / NPZ) with the UniMotion checkpoint",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", help='what the motion shows, e.g. "a person waves the right hand"')
    _outputs(p, "motion.gif")
    _length(p, "length of the motion (default 5 s)")
    _sampling(p)
    _common(p)
    p.set_defaults(func=run_generate)

    p = subparsers.add_parser("caption", help="motion → text: describe a BVH / joints / features file",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _motion_input(p)
    p.add_argument("--max-tokens", type=int, default=None, help="longest caption in tokens (default: the checkpoint's)")
    p.add_argument("--sample", action="store_true", help="nucleus sampling instead of greedy decoding")
    p.add_argument("--top-p", type=float, default=0.9, help="nucleus mass with --sample (default 0.9)")
    p.add_argument("--temperature", type=float, default=1.0, help="softmax temperature with --sample (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--json", default=None, help="also write {input, caption} to this JSON file")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --json file")
    _common(p)
    p.set_defaults(func=run_caption)

    p = subparsers.add_parser("predict", help="motion prediction: continue an observed motion",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _motion_input(p)
    _outputs(p, "predicted.gif")
    _length(p, "length of the continuation (default 3 s)")
    _sampling(p)
    _common(p)
    p.set_defaults(func=run_predict)

    p = subparsers.add_parser("edit", help="motion editing: change a motion following an instruction",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    _motion_input(p)
    p.add_argument("instruction", help='what to change, e.g. "now do it happily"')
    _outputs(p, "edited.gif")
    _length(p, "length of the edited motion (default: the input's)")
    _sampling(p)
    _common(p)
    p.set_defaults(func=run_edit)


# ============================================================================================ helpers
def set_threads(threads: int | None) -> int:
    """Set torch's CPU threads: ``threads``, else ``OMP_NUM_THREADS`` when set, else 1. Returns the count."""
    import torch

    if threads is None:
        env = os.environ.get("OMP_NUM_THREADS", "").strip()
        threads = int(env) if env.isdigit() and int(env) > 0 else 1
    torch.set_num_threads(threads)
    return threads


def load_pipeline(args: argparse.Namespace):
    set_threads(getattr(args, "threads", None))
    from ..pipelines.unimotion import UniMotionPipeline

    pipe = UniMotionPipeline.from_pretrained(args.checkpoint, device=args.device)
    return pipe


def pipeline_config(args: argparse.Namespace):
    """The pipeline's ``pipeline.json`` settings, read without loading a model (or torch)."""
    from ..pipelines.unimotion_config import default_pipeline_path, read_pipeline_config

    return read_pipeline_config(args.checkpoint if args.checkpoint is not None else default_pipeline_path())


def check_options(args: argparse.Namespace) -> None:
    """Checks that need no model: threads, sampling options, render size."""
    if getattr(args, "threads", None) is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    if getattr(args, "steps", None) is not None and args.steps < 1:
        raise InputError(f"--steps must be >= 1, got {args.steps}")
    if getattr(args, "cfg", None) is not None and not (math.isfinite(args.cfg) and args.cfg >= 0):
        raise InputError(f"--cfg must be a finite number >= 0, got {args.cfg}")
    if hasattr(args, "size") and not 16 <= args.size <= 2048:
        raise InputError(f"--size must be in [16, 2048], got {args.size}")


def check_length(args: argparse.Namespace, config, what: str) -> None:
    """``--seconds``/``--frames`` against the pipeline's minimum (the maximum needs the loaded model)."""
    frames = args.frames
    if args.seconds is not None:
        if not (math.isfinite(args.seconds) and args.seconds > 0):
            raise InputError(f"--seconds must be a positive number, got {args.seconds}")
        frames = int(round(args.seconds * config.fps))
    if frames is not None and frames < config.min_frames:
        raise InputError(f"the {what} is {frames} frames ({frames / config.fps:.2f} s); this model generates at "
                         f"least {config.min_frames} frames ({config.min_frames / config.fps:.2f} s at "
                         f"{config.fps:g} fps)")


def check_input_length(motion: np.ndarray, kind: str, minimum: int, fps: float, what: str, path: str) -> None:
    """The input motion against the pipeline's minimum for the task (joints give one feature frame less)."""
    frames = motion.shape[0] - (1 if kind == "joints" else 0)
    if frames < minimum:
        raise InputError(f"{path} has {frames} frames ({frames / fps:.2f} s) of motion; {what} needs at least "
                         f"{minimum} ({minimum / fps:.2f} s at {fps:g} fps)")


def check_outputs(paths: list[Path], overwrite: bool) -> None:
    """Refuse to replace files without ``--overwrite``; reject unknown extensions and duplicates."""
    seen = set()
    for p in paths:
        if p.suffix.lower() not in MOTION_OUTPUTS and p.suffix.lower() != ".json":
            raise InputError(f"{p}: unknown output format {p.suffix!r}; use one of {', '.join(MOTION_OUTPUTS)}")
        key = p.resolve()
        if key in seen:
            raise InputError(f"{p} is given twice as an output")
        seen.add(key)
        if p.exists() and p.is_dir():
            raise InputError(f"{p} is a folder")
        if p.exists() and not overwrite:
            raise InputError(f"{p} exists; pass --overwrite to replace it")


def output_paths(args: argparse.Namespace) -> list[Path]:
    paths = [Path(args.output)]
    if args.bvh:
        if Path(args.bvh).suffix.lower() != ".bvh":
            raise InputError(f"--bvh {args.bvh}: the file name must end in .bvh")
        paths.append(Path(args.bvh))
    if args.npz:
        if Path(args.npz).suffix.lower() != ".npz":
            raise InputError(f"--npz {args.npz}: the file name must end in .npz")
        paths.append(Path(args.npz))
    return paths


def read_motion(path: str | Path, fps: float, rig: str = "auto", start: float = 0.0,
                max_seconds: float | None = None) -> tuple[np.ndarray, str]:
    """A motion file → (joints (T, 22, 3) or features (T, D), kind) at ``fps`` (see the module docstring).

    Every array is checked before it is read (``.npy`` / ``.npz`` headers against :mod:`unimotion.limits`,
    never unpickled) and after (numbers only, finite, magnitudes within ``MOTION_MAX_ABS``).
    """
    from .. import limits
    from ..errors import MissingFileError
    from ..utils.io import load_npy, load_npz_arrays

    path = Path(path)
    if not path.exists():
        raise MissingFileError(f"motion file {path} does not exist")
    if not path.is_file():
        raise InputError(f"motion file {path} is not a file")
    if start < 0 or not np.isfinite(start) or (max_seconds is not None and not (max_seconds > 0 and np.isfinite(max_seconds))):
        raise InputError("--start must be a finite number >= 0 and --max-seconds a finite number > 0")
    suffix = path.suffix.lower()
    if suffix == ".bvh":
        from ..io.bvh import read_bvh
        from ..io.retarget import retarget_to_t2m

        arr, kind = retarget_to_t2m(read_bvh(path), mapping=rig, target_fps=fps), "joints"
    elif suffix == ".npy":
        arr = load_npy(path, what="motion file", mmap=True)  # sliced below before anything is copied
        kind = "joints" if arr.ndim == 3 else "features"
    elif suffix == ".npz":
        arrays = load_npz_arrays(path, names=("features", "joints"), what="motion file", kinds="biuf")
        if "features" in arrays:
            arr, kind = arrays["features"], "features"
        elif "joints" in arrays:
            arr, kind = arrays["joints"], "joints"
        else:
            raise InputError(f"{path}: an .npz input needs a numeric 'features' or 'joints' array")
    else:
        raise InputError(f"{path}: unknown motion format {path.suffix!r}; use .bvh, .npy or .npz")
    if arr.ndim not in (2, 3):
        raise InputError(f"{path}: expected joints (T, 22, 3) or features (T, D), got shape {arr.shape}")
    s = int(round(min(start * fps, 1e15)))
    e = None if max_seconds is None else s + int(round(min(max_seconds * fps, 1e15)))
    arr = np.array(arr[s:e])  # a copy of the slice (also detaches a memory map from its file)
    if arr.shape[0] == 0:
        raise InputError(f"{path}: no frames left after --start {start} s")
    limits.check_motion_values(arr, f"{path}")
    return arr, kind


def _fit_to_model(motion: np.ndarray, pipe, what: str) -> np.ndarray:
    """Cut an input longer than the model accepts (joints become features one frame shorter)."""
    limit = pipe.max_frames + (1 if motion.ndim == 3 else 0)
    if motion.shape[0] > limit:
        log.warning("%s has %d frames; using the first %d (%.1f s), the longest this model reads", what,
                    motion.shape[0], limit, pipe.max_frames / pipe.fps)
        motion = motion[:limit]
    return motion


def render(joints: np.ndarray, size: int, titles: Any) -> np.ndarray:
    """Stick-figure frames (T, H, W, 3) following the root (``size`` is checked by :func:`check_options`)."""
    from ..io import render as R

    return R.render_frames(joints, size=size, follow_root=True, titles=titles)


def write_motion(paths: list[Path], result, frames: np.ndarray | None, extra: dict | None = None,
                 bvh_positions: str = "root") -> list[str]:
    """Write one motion to every path (format by extension). ``frames``: the rendered frames for GIF/MP4;
    ``bvh_positions``: :class:`~unimotion.io.bvh_export.BVHExportConfig` ``positions``."""
    from ..io import render as R
    from ..io.bvh_export import save_bvh
    from ..utils.io import save_npz

    lines = []
    for p in paths:
        p.parent.mkdir(parents=True, exist_ok=True)
        ext = p.suffix.lower()
        if ext == ".gif":
            R.save_gif(frames, p, fps=result.fps)
        elif ext == ".mp4":
            R.save_mp4(frames, p, fps=result.fps)
        elif ext == ".bvh":
            err = save_bvh(p, result.joints.astype(np.float64), fps=result.fps, positions=bvh_positions)
            if err.warning is None:
                lines.append(f"wrote    : {p} (BVH; joints reproduced within {err.max * 1000:.2f} mm)")
            else:  # the library logged the measured cause; say here how to get an exact file
                lines.append(f"wrote    : {p} (BVH, rotations only: joints off by up to {err.max * 1000:.0f} mm, "
                             "see the warning; --bvh-positions all writes an exact file)")
            continue
        elif ext == ".npz":
            arrays = {"features": result.features, "joints": result.joints, "latents": result.latents,
                      "fps": np.float32(result.fps), "prompt": np.asarray(result.prompt or ""),
                      "observed_frames": np.int64(result.observed_frames)}
            arrays.update(extra or {})
            save_npz(p, **arrays)
        lines.append(f"wrote    : {p}")
    return lines


def _check_mp4(paths: list[Path]) -> None:
    if any(p.suffix.lower() == ".mp4" for p in paths):
        from ..io.video import MP4_INSTALL_HINT, mp4_backend

        if mp4_backend() is None:
            raise InputError(MP4_INSTALL_HINT)


def _notice(pipe) -> str:
    return "note     : the demo checkpoint was trained on BandaiML (CC BY-NC 4.0): non-commercial use only" \
        if pipe.notice and "NON-COMMERCIAL" in pipe.notice.upper() else ""


def _check_outputs(args: argparse.Namespace) -> list[Path]:
    """The output paths (never overwrite without --overwrite, known formats, MP4 encoder present)."""
    paths = output_paths(args)
    check_outputs(paths, args.overwrite)
    _check_mp4(paths)
    return paths


def _read_input(args: argparse.Namespace, config, minimum: int, what: str) -> np.ndarray:
    """The input motion file, read and checked against the task's minimum length before any model loads."""
    motion, kind = read_motion(args.input, config.fps, args.rig, args.start, args.max_seconds)
    check_input_length(motion, kind, minimum, config.fps, what, args.input)
    return motion


def _finish(args: argparse.Namespace, paths: list[Path], res, frames, pipe, extra: dict | None = None) -> int:
    for line in write_motion(paths, res, frames, extra=extra, bvh_positions=args.bvh_positions):
        print(line)
    if _notice(pipe):
        print(_notice(pipe))
    return 0


# ============================================================================================ commands
def run_generate(args: argparse.Namespace) -> int:
    check_options(args)
    if not args.text.split():
        raise InputError("the text is empty; describe the motion, e.g. \"a person walks forward\"")
    config = pipeline_config(args)
    check_length(args, config, "length")
    paths = _check_outputs(args)
    pipe = load_pipeline(args)
    res = pipe.text_to_motion(args.text, seconds=args.seconds, frames=args.frames, seed=args.seed,
                              num_steps=args.steps, cfg_scale=args.cfg)
    needs_frames = any(p.suffix.lower() in (".gif", ".mp4") for p in paths)
    frames = render(res.joints, args.size, res.prompt) if needs_frames else None
    print(f"text     : \"{res.prompt}\"")
    print(f"motion   : {res.num_frames} frames ({res.seconds:.2f} s at {res.fps:g} fps), seed {args.seed}")
    warn_unknown_words(res, pipe)
    return _finish(args, paths, res, frames, pipe)


def warn_unknown_words(res, pipe) -> None:
    """Name the prompt's words the checkpoint never saw and list what it knows (stderr)."""
    import sys

    if not res.unknown_words:
        return
    words = ", ".join(f"'{w}'" for w in res.unknown_words)
    print(f"warning  : the checkpoint never saw {words} in its training captions; the motion follows only the "
          "words it knows and may not show what you asked for", file=sys.stderr)
    known = pipe.vocabulary.describe() if pipe.vocabulary is not None else ""
    for line in known.splitlines():
        print(f"           it was trained on {line}", file=sys.stderr)


def run_caption(args: argparse.Namespace) -> int:
    from ..utils.io import write_json

    check_options(args)
    if args.max_tokens is not None and not 1 <= args.max_tokens <= 512:
        raise InputError(f"--max-tokens must be in 1..512, got {args.max_tokens}")
    if not 0 < args.top_p <= 1 or not (math.isfinite(args.temperature) and args.temperature > 0):
        raise InputError(f"--top-p must be in (0, 1] and --temperature > 0, got {args.top_p} and {args.temperature}")
    if args.json:
        if Path(args.json).exists() and not args.overwrite:
            raise InputError(f"{args.json} exists; pass --overwrite to replace it")
    config = pipeline_config(args)
    motion = _read_input(args, config, config.min_input_frames, "captioning")
    pipe = load_pipeline(args)
    motion = _fit_to_model(motion, pipe, args.input)
    caption = pipe.motion_to_text(motion, max_new_tokens=args.max_tokens, do_sample=args.sample, top_p=args.top_p,
                                  temperature=args.temperature, seed=args.seed)
    print(caption)
    if args.json:
        write_json(args.json, {"input": str(args.input), "caption": caption})
    return 0


def run_predict(args: argparse.Namespace) -> int:
    check_options(args)
    config = pipeline_config(args)
    check_length(args, config, "continuation length")
    paths = _check_outputs(args)
    motion = _read_input(args, config, config.min_context_frames, "prediction (the observed motion)")
    pipe = load_pipeline(args)
    motion = _fit_to_model(motion, pipe, args.input)
    res = pipe.predict(motion, seconds=args.seconds, frames=args.frames, seed=args.seed, num_steps=args.steps,
                       cfg_scale=args.cfg)
    frames = None
    if any(p.suffix.lower() in (".gif", ".mp4") for p in paths):
        titles = ["observed"] * res.observed_frames + ["predicted"] * (res.num_frames - res.observed_frames)
        frames = render(res.joints, args.size, titles)
    print(f"input    : {args.input}: {res.observed_frames} frames observed ({res.observed_frames / res.fps:.2f} s)")
    print(f"predicted: {res.num_frames - res.observed_frames} more frames "
          f"({(res.num_frames - res.observed_frames) / res.fps:.2f} s), seed {args.seed}")
    return _finish(args, paths, res, frames, pipe)


def run_edit(args: argparse.Namespace) -> int:
    check_options(args)
    if not args.instruction.split():
        raise InputError("the editing instruction is empty")
    config = pipeline_config(args)
    check_length(args, config, "length")
    paths = _check_outputs(args)
    motion = _read_input(args, config, config.min_input_frames, "editing")
    pipe = load_pipeline(args)
    motion = _fit_to_model(motion, pipe, args.input)
    source = pipe.prepare_motion(motion, "input")
    res = pipe.edit(source, args.instruction, seconds=args.seconds, frames=args.frames, seed=args.seed,
                    num_steps=args.steps, cfg_scale=args.cfg)
    warn_unknown_words(res, pipe)
    frames = None
    if any(p.suffix.lower() in (".gif", ".mp4") for p in paths):
        from ..motion.hml3d import features_to_joints

        src_joints = np.asarray(features_to_joints(source), dtype=np.float64)
        n = max(len(src_joints), res.num_frames)
        pad = lambda j: np.concatenate([j, np.repeat(j[-1:], n - len(j), axis=0)], axis=0)  # noqa: E731
        left = render(pad(src_joints), args.size, "source")
        right = render(pad(res.joints.astype(np.float64)), args.size, f"edited: {res.prompt}")
        gap = np.full((n, left.shape[1], 4, 3), 255, dtype=np.uint8)
        frames = np.concatenate([left, gap, right], axis=2)
    print(f"input    : {args.input}: {len(source)} frames ({len(source) / pipe.fps:.2f} s)")
    print(f"edit     : \"{res.prompt}\" → {res.num_frames} frames ({res.seconds:.2f} s), seed {args.seed}")
    return _finish(args, paths, res, frames, pipe, extra={"source_features": source})
