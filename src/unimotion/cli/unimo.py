"""``unimotion capture CLIP`` and ``unimotion animate IMAGE``: UniMo's two tasks from the command line.

``unimotion capture CLIP -o OUT`` (V2M, motion capture). CLIP is a video file (``.gif``, ``.npy``, or
``.mp4``/``.mov``/… with a decoder installed), a folder of frames (sorted by name) or one image. Writes

``OUT/<name>.npz``           SMPL-X body parameters ``params`` (T, 79) and the four groups (``body_pose``,
                             ``betas``, ``global_orient``, ``transl``), ``joints`` (T, 22, 3), ``fps``
``OUT/<name>.bvh``           the motion as a BVH (SMPL-X body joint names, centimetres)
``OUT/<name>_preview.gif``   the input frames (as the model saw them) beside the captured motion

``unimotion animate IMAGE -o OUT`` (I2VM). IMAGE is a picture (PNG/JPEG/…) of one figure. Writes

``OUT/<name>_video.gif``     the generated video (frame 0 = the input image through the tokenizer)
``OUT/<name>_motion.bvh``    the generated motion
``OUT/<name>.npz``           ``frames`` (T, h, w, 3) uint8, ``params``, ``joints``, ``fps``, token ids
``OUT/<name>_preview.gif``   the generated video beside its motion

The model is a UniMo pipeline directory (:class:`unimotion.pipelines.unimo.UniMoPipeline`):
``--model PATH``, else ``$UNIMOTION_UNIMO_MODEL``, else the repository's ``checkpoints/unimo_bandaiml``.
It was trained on BandaiML stick-figure renders (64×64): inputs are centre-cropped and resized to that,
and real footage is outside what it has seen.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..utils.logging import get_logger

log = get_logger(__name__)


def register(subparsers) -> None:
    cap = subparsers.add_parser(
        "capture", help="UniMo motion capture: a video (file or folder of frames) → SMPL-X motion (.npz + .bvh + GIF)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cap.add_argument("clip", help="video file (.gif, .npy, .mp4, ...), folder of frames, or one image")
    _common(cap, "out/capture")
    cap.add_argument("--input-fps", type=float, default=None,
                     help="frame rate of CLIP; frames are resampled to the model's rate (default: assume the model's)")
    cap.add_argument("--decoding", choices=["auto", "greedy", "expected"], default="auto",
                     help="V2M decoding: argmax codes (greedy) or each token's expected code vector (expected, masked-V2M "
                          "models); auto: expected where the model allows it (default)")
    cap.add_argument("--decoding-temperature", type=float, default=None,
                     help="softmax temperature of expected decoding (default: the pipeline's V2M_TEMPERATURE)")
    cap.set_defaults(func=run_capture)

    ani = subparsers.add_parser(
        "animate", help="UniMo image animation: one image → generated video (GIF) + its motion (BVH)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ani.add_argument("image", help="an image file (PNG, JPEG, ...)")
    _common(ani, "out/animate")
    ani.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    ani.add_argument("--temperature", type=float, default=1.0, help="sampling temperature (default 1.0)")
    ani.add_argument("--top-p", type=float, default=0.9, help="nucleus sampling mass (default 0.9)")
    ani.add_argument("--latent-frames", type=int, default=None,
                     help="latent video frames K to generate (default: the model's, 17 frames)")
    ani.set_defaults(func=run_animate)


def _common(p: argparse.ArgumentParser, default_out: str) -> None:
    p.add_argument("--model", default=None, help="UniMo pipeline directory (default $UNIMOTION_UNIMO_MODEL or "
                                                 "checkpoints/unimo_bandaiml)")
    p.add_argument("-o", "--output", default=default_out, help=f"output folder (default {default_out})")
    p.add_argument("--name", default=None, help="base name of the outputs (default: the input's name)")
    p.add_argument("--size", type=int, default=256, help="height of the preview GIF in pixels (default 256)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")


def load_pipeline(path: str | None):
    from ..errors import CheckpointError
    from ..pipelines.unimo import UniMoPipeline
    from ..utils.paths import default_checkpoint

    model = Path(path or os.environ.get("UNIMOTION_UNIMO_MODEL") or default_checkpoint("unimo_bandaiml", "pass --model DIR"))
    if not model.exists():
        raise CheckpointError(f"UniMo model {model} not found; pass --model DIR (a directory written by "
                              "UniMoPipeline.save_pretrained or `unimotion train unimo ... --set export_dir=DIR`)")
    return UniMoPipeline.from_pretrained(model)


def _outputs(args: argparse.Namespace, source: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    out = Path(args.output)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} exists and is not a folder")
    if not 16 <= args.size <= 2048:
        raise InputError(f"--size must be in [16, 2048], got {args.size}")
    name = args.name or (source.stem if source.suffix or not source.is_dir() else source.name)
    paths = {s: out / f"{name}{s}" for s in suffixes}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not args.overwrite:
        raise InputError(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    out.mkdir(parents=True, exist_ok=True)
    return paths


def _check_size(frames: np.ndarray, path: Path) -> np.ndarray:
    from ..pipelines.unimo import MIN_FRAME_SIDE

    h, w = frames.shape[1:3]
    if min(h, w) < MIN_FRAME_SIDE:
        raise InputError(f"{path}: {w}×{h} pixels is too small; at least {MIN_FRAME_SIDE}×{MIN_FRAME_SIDE} are needed to "
                         "show a figure")
    return frames


def resample(frames: np.ndarray, source_fps: float, target_fps: float) -> np.ndarray:
    """Nearest-frame resampling of (T, ...) from ``source_fps`` to ``target_fps``."""
    if not (np.isfinite(source_fps) and source_fps > 0):
        raise InputError(f"--input-fps must be a positive number, got {source_fps}")
    if abs(source_fps - target_fps) < 1e-6:
        return frames
    from .. import limits
    from ..io.video import VideoLimitError

    count = max(1, int(round(min(len(frames) * target_fps / source_fps, 1e15))))
    limits.check("VIDEO_MAX_FRAMES", count, f"{len(frames)} frames at --input-fps {source_fps:g} resample to more "
                 f"frames at {target_fps:g} fps", error=VideoLimitError)
    idx = np.clip(np.round(np.arange(count) * source_fps / target_fps), 0, len(frames) - 1).astype(int)
    return frames[idx]


def side_by_side(frames: np.ndarray, joints: np.ndarray, size: int, titles: tuple[str, str]) -> np.ndarray:
    """Frames (T, h, w, 3) upscaled to ``size`` next to a stick-figure render of ``joints`` (T, 22, 3)."""
    from PIL import Image

    from ..io.render import fit_camera, render_frames
    from ..motion.skeletons import SMPLX_BODY

    h, w = frames.shape[1:3]
    width = max(1, int(round(size * w / h)))
    big = np.stack([np.asarray(Image.fromarray(f).resize((width, size), Image.NEAREST)) for f in frames])
    rel = joints.copy()
    rel[..., [0, 2]] -= joints[:, :1, [0, 2]] - joints[:1, :1, [0, 2]]
    camera = fit_camera(rel, size, size)
    motion = render_frames(joints, SMPLX_BODY, camera=camera, follow_root=True, titles=titles[1])
    gap = np.full((len(frames), size, 4, 3), 255, dtype=np.uint8)
    return np.concatenate([big, gap, motion], axis=2)


def _save_motion(paths: dict[str, Path], key: str, params: np.ndarray, joints: np.ndarray, fps: float) -> float:
    from ..io.bvh_export import save_bvh
    from ..motion.skeletons import SMPLX_BODY

    err = save_bvh(paths[key], joints, fps=fps, layout=SMPLX_BODY)
    return float(err.max)


def run_capture(args: argparse.Namespace) -> int:
    from ..io.video import read_video, save_gif
    from ..motion import smplx_params as sp
    from ..utils.io import save_npz

    clip = Path(args.clip)
    if not clip.exists():
        raise InputError(f"{clip} not found")
    paths = _outputs(args, clip, (".npz", ".bvh", "_preview.gif"))
    frames = _check_size(read_video(clip), clip)  # the input is checked before the model is loaded
    pipe = load_pipeline(args.model)
    if args.input_fps is not None:
        frames = resample(frames, args.input_fps, pipe.fps)
    log.info("capturing %d frames of %s (%dx%d) at %g fps", len(frames), clip, frames.shape[2], frames.shape[1], pipe.fps)
    from ..pipelines.unimo import V2M_TEMPERATURE

    temperature = V2M_TEMPERATURE if args.decoding_temperature is None else args.decoding_temperature
    if temperature <= 0:
        raise InputError(f"--decoding-temperature must be > 0, got {temperature}")
    log.info("V2M decoding: %s", pipe.v2m_decoding(args.decoding))
    out = pipe.capture(frames, decoding=args.decoding, temperature=temperature)
    p = sp.unpack_params(out.params)
    save_npz(paths[".npz"], params=out.params.astype(np.float32), body_pose=p.body_pose.astype(np.float32),
             betas=p.betas.astype(np.float32), global_orient=p.global_orient.astype(np.float32),
             transl=p.transl.astype(np.float32), joints=out.joints.astype(np.float32), fps=np.float32(out.fps))
    bvh_err = _save_motion(paths, ".bvh", out.params, out.joints, out.fps)
    save_gif(side_by_side(out.frames, out.joints, args.size, ("input", "captured motion")), paths["_preview.gif"],
             fps=out.fps)
    print(f"captured {len(out.params)} frames at {out.fps:g} fps → {paths['.npz']}, {paths['.bvh']} "
          f"(BVH reproduces the joints within {bvh_err * 1000:.2f} mm), {paths['_preview.gif']}")
    return 0


def run_animate(args: argparse.Namespace) -> int:
    from ..io.video import read_video, save_gif
    from ..utils.io import save_npz

    image_path = Path(args.image)
    if not image_path.is_file():
        raise InputError(f"{image_path} is not an image file")
    paths = _outputs(args, image_path, ("_video.gif", "_motion.bvh", ".npz", "_preview.gif"))
    image = _check_size(read_video(image_path), image_path)  # the input is checked before the model is loaded
    pipe = load_pipeline(args.model)
    if len(image) != 1:
        log.info("%s holds %d frames; animating the first one", image_path, len(image))
    out = pipe.animate(image[0], seed=args.seed, num_latent_frames=args.latent_frames,
                       temperature=args.temperature, top_p=args.top_p)
    save_gif(out.frames, paths["_video.gif"], fps=out.fps)
    bvh_err = _save_motion(paths, "_motion.bvh", out.params, out.joints, out.fps)
    save_npz(paths[".npz"], frames=out.frames, params=out.params.astype(np.float32), joints=out.joints.astype(np.float32),
             fps=np.float32(out.fps), video_codes=out.video_codes, motion_codes=out.motion_codes)
    save_gif(side_by_side(out.frames, out.joints, args.size, ("generated video", "generated motion")),
             paths["_preview.gif"], fps=out.fps)
    print(f"generated {len(out.frames)} frames at {out.fps:g} fps → {paths['_video.gif']}, {paths['_motion.bvh']} "
          f"(BVH within {bvh_err * 1000:.2f} mm), {paths['.npz']}, {paths['_preview.gif']}")
    return 0
