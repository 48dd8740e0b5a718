"""What each post-processing step does to generated motion (selection on the BandaiML **val** split).

One set of text → motion generations (every ``--every``-th val motion's first caption at its length, seed =
index, ``--steps`` Euler steps) from the checkpoint's raw decoder output, then each variant of
:func:`unimotion.motion.postprocess.finish_motion`'s steps applied to the same motions:

* ``raw`` — the VAE decoder's joints; ``rigid (directions)`` — :func:`~unimotion.motion.rigid.rigidify`
  without limb IK; ``rigid (limb IK)`` — with it (the default);
* ``+ clean-up (flags)`` / ``+ clean-up (height)`` — the contact clean-up with feet planted by the
  features' contact channels or by height alone (``PipelineConfig.contacts``).

Columns: the physics metrics (:mod:`unimotion.evaluation.physics`) over all motions and over the
locomotion ones (walk/run/dash/turn/side-step), and the locomotion's mean ground speed (m/s), next to the
real val motions'.

    python benchmarks/postprocess_ablation.py            # → docs/results/postprocess_bandaiml.{json,md}
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LOCOMOTION = re.compile(r"_(walk|run|dash|walk-turn-left|walk-turn-right|walk-back|walk-left|walk-right)_")
COLUMNS = ["variant", "n", "skate_ratio", "float_mm", "penetration_mm", "bone_std_mm", "loco n", "loco skate_ratio",
           "loco skate_per_contact", "loco speed (m/s)"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "unimotion_bandaiml"))
    p.add_argument("--data", default=str(REPO.parent / "data" / "bandaiml"))
    p.add_argument("--split", default="val")
    p.add_argument("--every", type=int, default=2, help="use every N-th motion of the split")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "docs" / "results" / "postprocess_bandaiml"))
    return p.parse_args(argv)


def speed(joints: list[np.ndarray], fps: float) -> float:
    return float(np.mean([np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]) / (len(j) / fps) for j in joints]))


def main(argv: list[str] | None = None) -> int:
    from dataclasses import replace

    import torch

    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.physics import PhysicsConfig, physics_metrics
    from unimotion.evaluation.reports import results_meta, write_results
    from unimotion.motion.hml3d import features_to_joints
    from unimotion.motion.postprocess import lift_above_floor, remove_foot_skate
    from unimotion.motion.rigid import rigidify
    from unimotion.pipelines.unimotion import UniMotionPipeline

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    pipe = UniMotionPipeline.from_pretrained(args.checkpoint)
    if pipe.skeleton is None:
        raise SystemExit(f"{args.checkpoint} has no Skeleton.npy")
    raw = UniMotionPipeline(pipe.model, pipe.vae, replace(pipe.config, rigid=False, clean_contacts=False, join_frames=0))
    data = T.load_split(args.data, args.split, feature_dir="new_joint_vecs_269")
    recs = data.records[:: args.every]
    lengths = [T.crop_length(r.length, 4) for r in recs]
    res = raw.text_to_motion([r.captions[0].text for r in recs], frames=lengths, seed=list(range(len(recs))),
                             num_steps=args.steps)
    skel = pipe.skeleton
    real = [np.asarray(features_to_joints(r.motion[:n, :263].astype(np.float64))) for r, n in zip(recs, lengths, strict=True)]
    variants = {
        "Real (val motions)": lambda i: real[i],
        "raw decoder output": lambda i: res[i].joints.astype(np.float64),
        "rigid (directions)": lambda i: rigidify(res[i].joints, skel, limb_ik=False),
        "rigid (limb IK)": lambda i: rigidify(res[i].joints, skel),
        "rigid (limb IK) + clean-up (flags)":
            lambda i: lift_above_floor(remove_foot_skate(rigidify(res[i].joints, skel), res[i].features[:, 259:263])),
        "rigid (limb IK) + clean-up (height)": lambda i: lift_above_floor(remove_foot_skate(rigidify(res[i].joints, skel))),
    }
    loco = [i for i, r in enumerate(recs) if LOCOMOTION.search(r.name)]
    cfg = PhysicsConfig(fps=pipe.fps)
    rows: list[dict[str, Any]] = []
    for name, fn in variants.items():
        joints = [fn(i) for i in range(len(recs))]
        m = physics_metrics(joints, cfg)
        ml = physics_metrics([joints[i] for i in loco], cfg)
        rows.append({"variant": name, "n": m["n"], "skate_ratio": m["skate_ratio"], "float_mm": m["float_mm"],
                     "penetration_mm": m["penetration_mm"], "bone_std_mm": m["bone_std_mm"], "loco n": ml["n"],
                     "loco skate_ratio": ml["skate_ratio"], "loco skate_per_contact": ml["skate_per_contact"],
                     "loco speed (m/s)": speed([joints[i] for i in loco], pipe.fps)})
        print(f"{name}: " + ", ".join(f"{k} {v:.3f}" for k, v in rows[-1].items() if isinstance(v, float)), flush=True)
    command = "python benchmarks/postprocess_ablation.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = results_meta(command=command.strip(), checkpoint=args.checkpoint, wall_s=round(time.time() - started, 1),
                        protocol={"split": args.split, "every": args.every, "steps": args.steps})
    notes = (f"{len(recs)} generations from every {args.every}-th {args.split} motion's first caption (seed = index, "
             f"{args.steps} Euler steps, CFG of the checkpoint); every variant post-processes the same motions. "
             "Locomotion = walk/run/dash/turn/side-step/backward clips.")
    write_results(args.out, rows, meta, title="Post-processing of generated motion: what each step does", columns=COLUMNS,
                  notes=notes)
    print(f"wrote {args.out}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
