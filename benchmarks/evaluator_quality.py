"""Quality of the two trained evaluators on BandaiML → ``docs/results/evaluator_bandaiml.{json,md}``.

1. The text–motion retrieval evaluator (``checkpoints/evaluator_bandaiml``): the **Real** rows of the T2M
   protocol — real test motions against their own captions — on ``test`` and ``test_novel``: R@1/2/3,
   MM-Dist, FID (against the split's own motions, as the protocol scores a generator), Diversity, the
   label-level R@k ceiling and the fraction of captions whose (content, style) is unique in its pool, plus
   two FID references (two random halves of the split; the split against all training motions). This is
   the ceiling every generator is compared to.
2. The 2D keypoint network (``checkpoints/keypoints_bandaiml``): mean 2D error (px), PCK@2/4 px and the
   left/right-tolerant error on the rendered single frames (``renders/images``) and on the SMPL-X body
   video frames (``renders/videos``) of ``test`` and ``test_novel``.

    python benchmarks/evaluator_quality.py                      # 20 replications, both checkpoints
    python benchmarks/evaluator_quality.py --replications 3 --out /tmp/evq

Training budgets come from the ``train_summary.json`` written by the trainer and shipped in each checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TITLE = "Evaluators trained on BandaiML: quality on real data"
RETRIEVAL_COLUMNS = [
    "split", "n", "labels", "R@1", "R@2", "R@3", "MM-Dist", "FID", "Diversity", "ceiling_R@1", "ceiling_R@3",
    "unique_label_fraction", "FID_halves", "FID_vs_train",
]
KEYPOINT_COLUMNS = ["split", "views", "n", "err_px", "PCK@2", "PCK@4", "err_px_lr_tolerant"]

NOTES = """\
**Retrieval evaluator** (rows "Real"): every test motion (cut to a multiple of 4 frames) against one of its
three captions, drawn anew in each of the 20 replications; pairs shuffled into pools of 32 (the last
incomplete pool dropped: 192 of 204 test motions, 160 of 183 test_novel motions per replication).
R@k = fraction of captions whose own motion is among the k nearest of the pool's 32 motions (Euclidean
distance of the 512-d embeddings; Guo et al. 2022 `calculate_top_k`); MM-Dist = mean caption-to-own-motion
distance; FID = Fréchet distance between Gaussians fitted to the embeddings of all the split's motions and
of the pooled ones (`calculate_frechet_distance`; ~0 by construction for real motions); Diversity = mean
distance of 150 random pairs (`calculate_diversity`; the reference's 300 pairs need more than 300 motions).
Embeddings lie on a sphere of radius 1 (distances in [0, 2]), so MM-Dist, FID and Diversity are not on the
scale of HumanML3D papers. ceiling_R@k = expected R@k of an ideal evaluator that knows only each motion's
(content, style) label, in the same pools (a caption whose label is shared by m motions of its pool finds its
own motion in the top k with probability min(k, m)/m): BandaiML captions are templates of (content, style),
so several motions of a pool fit a caption equally well and R@k cannot reach 1. unique_label_fraction =
fraction of captions whose label is unique in their pool; labels = distinct (content, style) pairs of the
split. test_novel holds only a few pairs (novel combinations never seen in training), hence its low ceiling. FID_halves = FID between two random
halves of the split (20 draws; only ~100 motions per half in 512 dimensions, so it carries a larger
small-sample bias than FID_vs_train); FID_vs_train = FID between the split and all 2,016 training motions.
Both are reference scales for the FID of a generator (a generator scored on test_novel is compared with
motions of (content, style) pairs absent from training, hence the large FID_vs_train there).

**Keypoint network**: mean Euclidean 2D error (pixels of the 64×64 renders) over the 22 joints of every
frame, PCK@t = fraction of joints within t pixels, err_px_lr_tolerant = per frame the smaller mean error
against the ground truth and against its left/right-mirrored copy (the stick-figure renders colour body
parts at random, so left/right is only visible from the 3D pose and drawing order). `images`: the 4
single frames per motion (new_joints, random cameras); `videos`: all 17 frames of the clip (SMPL-X body
joints, one camera per clip), never seen in training.

Metric definitions and the protocol: docs/evaluation.md.
"""


def _budget(ckpt: Path) -> dict | str:
    path = ckpt / "train_summary.json"
    if not path.is_file():
        return "unknown (no train_summary.json in the checkpoint)"
    s = json.loads(path.read_text())
    return {k: s.get(k) for k in ("steps", "batch_size_per_process", "samples_this_run", "wall_seconds_this_run",
                                   "device", "trainable_parameters")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(REPO.parent / "data" / "bandaiml"), help="BandaiML folder")
    p.add_argument("--evaluator", default=str(REPO / "checkpoints" / "evaluator_bandaiml"))
    p.add_argument("--keypoints", default=str(REPO / "checkpoints" / "keypoints_bandaiml"))
    p.add_argument("--splits", nargs="+", default=["test", "test_novel"])
    p.add_argument("--replications", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(REPO / "docs" / "results" / "evaluator_bandaiml"))
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import torch

    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.reports import markdown_table, render_markdown, results_meta
    from unimotion.models.evaluators.keypoints import keypoint_metrics
    from unimotion.models.modeling_utils import load_pretrained
    from unimotion.utils.io import write_json, write_text

    torch.set_num_threads(args.threads)
    config = T.EvalConfig(replications=args.replications, seed=args.seed)
    evaluator = T.load_evaluator(args.evaluator)
    rows = []
    for row in T.evaluator_quality_rows(evaluator, args.data, args.splits, config):
        rows.append({"table": "retrieval", "method": T.REAL, **{k: v for k, v in row.items() if k != "method"}})
    kp_rows = []
    net = load_pretrained(args.keypoints)
    for split in args.splits:
        for kind in ("images", "videos"):
            views = T.load_rendered_views(args.data, split, kind)
            m = keypoint_metrics(net.predict(views.images), views.joints_2d, config.pck_thresholds)
            m.pop("images")
            kp_rows.append({"table": "keypoints", "method": "KeypointNet", "split": split, "views": kind,
                            "n": len(views.ids), **m})
    budget = {"evaluator_training": _budget(Path(args.evaluator)), "keypoints_training": _budget(Path(args.keypoints)),
              "evaluation": f"{args.replications} replications, pools of 32"}
    command = "python benchmarks/evaluator_quality.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                        " " + " ".join(sys.argv[1:] if argv is None else argv))
    meta = results_meta(budget=budget, command=command, data=args.data, evaluator=args.evaluator,
                        keypoints=args.keypoints, keypoint_parameters=net.num_parameters(),
                        evaluator_trainable_parameters=evaluator.num_parameters())
    notes = ("## Keypoint network (2D error on rendered frames)\n\n" + markdown_table(kp_rows, ["method", *KEYPOINT_COLUMNS])
             + "\n" + NOTES)
    # One JSON with every row; the markdown renders the retrieval rows as the main table and the keypoint rows
    # in the notes (both from the same rows, by this command).
    out = Path(args.out)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    columns = ["table", "method", *RETRIEVAL_COLUMNS]
    write_json(json_path, {"meta": {**meta, "columns": columns}, "rows": rows + kp_rows})
    text = render_markdown({"meta": {**meta, "columns": columns}, "rows": rows}, TITLE, notes)
    write_text(md_path, text)
    print(text)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
