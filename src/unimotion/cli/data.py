"""``unimotion data ...``: build and inspect datasets."""

from __future__ import annotations

import argparse
import json

from . import add_group


def register(subparsers) -> None:
    group = add_group(subparsers, "data", "build and inspect motion datasets")
    p = _dataset_parser(
        group, "build", "build a benchmark dataset from raw sources",
        help="BandaiML from the Bandai Namco Research mocap archives (CC BY-NC 4.0)",
        description=(
            "Build BandaiML (HumanML3D layout + 269-dim variant + SMPL-X parameters + rendered views) from the "
            "two Bandai Namco .tar.gz archives, read directly. Deterministic and resumable."
        ),
    )
    p.add_argument("--src", default="../shared/datasets/bandai", help="folder holding the two .tar.gz archives")
    p.add_argument("--out", required=True, help="output folder (created; existing outputs are reused)")
    p.add_argument("--workers", type=int, default=2, help="worker processes")
    p.add_argument("--size", type=int, default=64, help="render resolution (pixels, square)")
    p.add_argument("--images", type=int, default=4, help="rendered single frames per motion")
    p.add_argument("--video-frames", type=int, default=17, help="frames of the rendered clip per motion")
    p.add_argument("--min-frames", type=int, default=40,
                   help="drop windows shorter than this many feature frames (HumanML3D: 40; KIT: 24)")
    p.add_argument("--seed", type=int, default=0, help="seed of cameras, appearances and captions")
    p.add_argument("--no-renders", action="store_true", help="skip rendered views")
    p.add_argument("--no-smplx", action="store_true", help="skip SMPL-X body parameters")
    p.add_argument("--hml3d-first-root", choices=("smoothed", "identity"), default="smoothed",
                   help="first root rotation of the HumanML3D codec: 'smoothed' is the project's data format v1, "
                        "on which every shipped model (evaluator included) was trained; 'identity' is the "
                        "original HumanML3D code: data built with it need every model retrained")
    p.add_argument("--include", action="append", default=None, metavar="GLOB",
                   help="only clips whose name matches (repeatable), e.g. 'dataset-1_bow_*'")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_build_bandai)

    r = _dataset_parser(
        group, "render", "render a built dataset as person-like videos",
        help="BandaiML: every motion's SMPL-X fit as a skinned mannequin video (CC BY-NC 4.0)",
        description=(
            "Render every motion of a built BandaiML folder (its smplx/<id>.npz SMPL-X fits) as short videos of "
            "a skinned mannequin-x body, rasterised off-screen by pyrender (EGL/llvmpipe without a GPU), with "
            "seeded cameras, lights, outfits, floor and background; stores per clip the RGB frames, the 22 "
            "body joints projected to 2D, the cameras and the SMPL-X parameters (clips/<id>.npz + "
            "manifest.json; layout in docs/render.md). Deterministic and resumable: rerun the same command "
            "to finish an interrupted build."
        ),
    )
    r.add_argument("--data", default="data/bandaiml", help="BandaiML folder built by `unimotion data build bandai`")
    r.add_argument("--out", required=True, help="output folder (created; finished clips are reused)")
    r.add_argument("--size", type=int, default=128, help="resolution in pixels (square, 16..2048)")
    r.add_argument("--fps", type=float, default=10.0, help="rendered frame rate (divides the source's 20 fps)")
    r.add_argument("--views", type=int, default=1, help="cameras per clip (spread around the body)")
    r.add_argument("--max-frames", type=int, default=40,
                   help="at most this many rendered frames per view (a seeded contiguous run; 0: no cap)")
    r.add_argument("--camera", choices=("static", "follow"), default="static",
                   help="a fixed camera per clip, or one that moves with the pelvis")
    r.add_argument("--body", choices=("wooden", "convex"), default="wooden",
                   help="mannequin-x design: skinned 'wooden' or rigid 'convex'")
    r.add_argument("--seed", type=int, default=0, help="seed of cameras, lights, outfits, floor and background")
    r.add_argument("--split", choices=("all", "train", "val", "test", "test_novel"), default="all",
                   help="render only the motions of this split")
    r.add_argument("--include", action="append", default=None, metavar="GLOB",
                   help="only motions whose id matches (repeatable), e.g. 'dataset-1_bow_*'")
    r.add_argument("--limit", type=int, default=None, help="only the first N selected motions (quick partial builds)")
    r.add_argument("--workers", type=int, default=1, help="worker processes (each with its own GL context)")
    r.add_argument("--overwrite", action="store_true",
                   help="replace renders made with other parameters (or render into a non-empty folder)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar")
    r.set_defaults(func=_render_bandai)

    info = group.add_parser("info", help="summarise a HumanML3D-layout dataset folder")
    info.add_argument("root", help="dataset folder")
    info.set_defaults(func=_info)


def _dataset_parser(group, verb: str, verb_help: str, help: str, description: str) -> argparse.ArgumentParser:
    """``unimotion data VERB bandai``: the VERB parser (alone, it prints its help) and its BandaiML target."""
    parser = group.add_parser(verb, help=verb_help)
    parser.set_defaults(_group_parser=parser, func=None)
    targets = parser.add_subparsers(dest=f"{verb}_target", metavar="DATASET")
    return targets.add_parser("bandai", help=help, description=description,
                              formatter_class=argparse.ArgumentDefaultsHelpFormatter)


def _build_bandai(args: argparse.Namespace) -> int:
    from ..data.bandai import BuildConfig, build_bandai

    cfg = BuildConfig(
        min_window=args.min_frames, render_size=args.size, images_per_motion=args.images, video_frames=args.video_frames, seed=args.seed,
        renders=not args.no_renders, smplx=not args.no_smplx, hml3d_first_root=args.hml3d_first_root,
    )
    manifest = build_bandai(args.src, args.out, cfg, workers=args.workers, include=args.include,
                            progress=not args.no_progress)
    print(json.dumps(manifest["counts"], indent=2))
    print(f"built in {manifest['build_seconds']} s -> {args.out}")
    return 0


def _render_bandai(args: argparse.Namespace) -> int:
    from ..data.bandai_render import RenderConfig, render_bandai

    cfg = RenderConfig(size=args.size, fps=args.fps, views=args.views, max_frames=args.max_frames,
                       camera=args.camera, body=args.body, seed=args.seed)
    manifest = render_bandai(args.data, args.out, cfg, workers=args.workers, split=args.split,
                             include=args.include, limit=args.limit, overwrite=args.overwrite,
                             progress=not args.no_progress)
    print(json.dumps(manifest["counts"]))
    print(f"rendered -> {args.out}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from pathlib import Path

    root = Path(args.root)
    manifest = root / "manifest.json"
    if manifest.is_file():
        print(json.dumps(json.loads(manifest.read_text())["counts"], indent=2))
    for split in ("train", "val", "test", "test_novel", "all"):
        f = root / f"{split}.txt"
        if f.is_file():
            print(f"{split}: {sum(1 for line in f.read_text().splitlines() if line.strip())} ids")
    return 0
