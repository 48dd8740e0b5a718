"""Contact sheet of the mannequin renders: random BandaiML test motions, a strip of frames per view, with the
stored 2D keypoints drawn on top (so a reader can check that they land on the figure's joints).

    python benchmarks/render_contact_sheet.py              # 5 test motions × 2 views × 6 frames, 128 px
    python benchmarks/render_contact_sheet.py --clips 2 --frames 4 --out-dir /tmp/sheet

Renders the chosen motions with `unimotion.data.bandai_render.render_bandai` into ``--work`` (reused on a
rerun), then writes ``renders_bandaiml.md`` and one PNG per motion under ``--out-dir`` (rows: views;
columns: frames, upscaled ×2; red dots: ``keypoints_2d``, white lines: the SMPL-X body tree).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "data" / "bandaiml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="BandaiML folder (default ../data/bandaiml)")
    parser.add_argument("--clips", type=int, default=5, help="random test motions (default 5)")
    parser.add_argument("--views", type=int, default=2, help="views per motion (default 2)")
    parser.add_argument("--frames", type=int, default=6, help="frames per strip (default 6)")
    parser.add_argument("--fps", type=float, default=4.0, help="rendered frame rate: spacing of the strip (default 4)")
    parser.add_argument("--size", type=int, default=128, help="resolution (default 128)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the motion choice and of the renders")
    parser.add_argument("--work", default="/tmp/unimotion_contact_sheet", help="render folder (reused)")
    parser.add_argument("--out-dir", default=str(REPO / "docs" / "results"), help="where the .md and PNGs go")
    args = parser.parse_args(argv)

    from PIL import Image, ImageDraw

    from unimotion.data.bandai_render import RenderConfig, list_motions, render_bandai
    from unimotion.evaluation.reports import generated_by, results_meta
    from unimotion.motion import smplx_params as sp
    from unimotion.notices import BANDAI_ATTRIBUTION
    from unimotion.utils.io import atomic_path, write_text

    data = Path(args.data)
    test_ids = list_motions(data, split="test")
    rng = np.random.default_rng(args.seed)
    chosen = sorted(rng.choice(test_ids, size=min(args.clips, len(test_ids)), replace=False).tolist())
    cfg = RenderConfig(size=args.size, fps=args.fps, views=args.views, max_frames=args.frames, seed=args.seed)
    manifest = render_bandai(data, args.work, cfg, include=chosen, progress=False, overwrite=True)
    captions = {c["id"]: c["caption"] for c in manifest["clips"]}

    out_dir = Path(args.out_dir)
    png_dir = out_dir / "renders_bandaiml"
    scale = 2
    sections = []
    for motion_id in chosen:
        with np.load(Path(args.work) / "clips" / f"{motion_id}.npz", allow_pickle=False) as d:
            frames, keypoints = d["frames"], d["keypoints_2d"]  # (V, T, S, S, 3), (V, T, 22, 2)
            azimuth, index = d["azimuth_deg"], d["frame_index"]
        rows = []
        for v in range(frames.shape[0]):
            tiles = []
            for t in range(frames.shape[1]):
                image = Image.fromarray(frames[v, t]).resize((args.size * scale,) * 2, Image.NEAREST)
                draw = ImageDraw.Draw(image)
                uv = keypoints[v, t] * scale
                for j, parent in enumerate(sp.PARENTS):
                    if parent >= 0:
                        draw.line([tuple(uv[parent]), tuple(uv[j])], fill=(255, 255, 255), width=1)
                for u, w in uv:
                    draw.ellipse([u - 2, w - 2, u + 2, w + 2], fill=(255, 0, 0))
                tiles.append(np.asarray(image))
            rows.append(np.concatenate(tiles, axis=1))
        sheet = np.concatenate(rows, axis=0)
        png = png_dir / f"{motion_id}.png"
        with atomic_path(png) as tmp:
            Image.fromarray(sheet).save(tmp, format="PNG")
        views = ", ".join(f"view {v}: azimuth {a:.0f}°" for v, a in enumerate(azimuth))
        sections.append(f"### `{motion_id}`\n\n> {captions.get(motion_id, '')}\n\n"
                        f"Source frames {index.tolist()} (20 fps); {views} (from the body's facing at the first frame)."
                        f"\n\n![{motion_id}](renders_bandaiml/{png.name})\n")

    command = "python benchmarks/render_contact_sheet.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = results_meta(command=command.strip())
    text = (
        "# BandaiML mannequin renders: contact sheet\n\n" + generated_by(meta) +
        f"{len(chosen)} random test motions (seed {args.seed}) rendered by `unimotion data render bandai` "
        f"({args.size} px, {args.fps:g} fps, {args.views} views, {args.frames} frames, mannequin-x wooden body, pyrender "
        "+ Mesa llvmpipe). Each row is one view, each column one frame (upscaled ×2); red dots are the stored "
        "`keypoints_2d` (the 22 SMPL-X body joints projected with the stored camera), white lines join them "
        "along the body tree. Captions are the motions' first BandaiML caption.\n\n"
        f"Derived from motion capture data by {BANDAI_ATTRIBUTION}: CC BY-NC 4.0, non-commercial use only.\n\n"
        + "\n".join(sections)
    )
    write_text(out_dir / "renders_bandaiml.md", text)
    print(f"wrote {out_dir / 'renders_bandaiml.md'} and {len(chosen)} PNGs in {png_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
