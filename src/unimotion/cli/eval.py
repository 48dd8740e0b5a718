"""``unimotion eval TASK``: score prediction files on a dataset split → ``OUT.json`` + ``OUT.md``.

Tasks: ``t2m`` (text-to-motion), ``m2t`` (motion-to-text), ``pred`` (motion prediction), ``edit`` (motion
editing), ``recon`` (autoencoder reconstruction), ``pose`` (2D keypoints / 3D joints of rendered frames).
Every table has a **Real** row (the ground truth scored as if it were a prediction). Without ``--pred``
only the Real row is computed. Prediction formats: :mod:`unimotion.evaluation.tasks` and
``docs/evaluation.md``.

    unimotion eval t2m --pred gen/ --data ../data/bandaiml --split test --out results/t2m_test
    unimotion eval pose --pred checkpoints/keypoints_bandaiml --views videos --split test_novel --out kp
"""

from __future__ import annotations

import argparse

from . import add_group

TASKS = {
    "t2m": "text-to-motion: R-precision, FID, MM-Dist, Diversity, MultiModality (folder of <id>.npy features)",
    "m2t": "motion-to-text: R-precision, MM-Dist, BLEU, ROUGE-L, CIDEr (JSON {id: caption} or JSONL)",
    "pred": "motion prediction: ADE, FDE, FID, Diversity (folder of <id>.npy whole motions)",
    "edit": "motion editing: generated-to-target retrieval R@k and FID (folder of <name>.npy + --edits JSON)",
    "recon": "reconstruction: MPJPE, PA-MPJPE, APE, AVE, FID (folder of <id>.npy reconstructions)",
    "pose": "pose from rendered frames: 2D error/PCK or 3D MPJPE/PA-MPJPE/hit rate (arrays or a KeypointNet)",
}

TITLES = {
    "t2m": "Text-to-motion",
    "m2t": "Motion-to-text",
    "pred": "Motion prediction",
    "edit": "Motion editing",
    "recon": "Motion reconstruction",
    "pose": "Pose from rendered frames",
}

NOTES = {
    "t2m": "R@k: a caption's own motion among the k nearest of its pool of 32 (Euclidean distance of evaluator "
           "embeddings); MM-Dist: mean caption-to-own-motion distance; FID: Fréchet distance of motion embeddings "
           "to all ground-truth motions of the split; Diversity: mean distance of random pairs; MultiModality: mean "
           "distance of pairs of generations for one caption; ceiling_R@k: expected R@k of an ideal evaluator that "
           "only knows each motion's (content, style) label, in the same pools. Mean ± 1.96·std/√n over the "
           "replications. Definitions and references: docs/evaluation.md.",
    "m2t": "Captions go through the evaluator's text side and rank the pool's 32 ground-truth motions. Captioning "
           "metrics are corpus-level; the Real row uses each motion's first reference as its caption, and every row "
           "is scored against the other references (leave-one-out), so Real and the model face the same "
           "references. See docs/evaluation.md.",
    "pred": "ADE/FDE: MotionGPT's per-frame L2 norm of the flattened joint difference (metres), on the frames after "
            "the observed prefix; FID/Diversity on the whole motions (evaluator embeddings). See docs/evaluation.md.",
    "edit": "R@k: each edited motion ranks the 32 target motions of its pool (evaluator motion embeddings); FID "
            "against the targets. 'source (no edit)' scores the unedited sources. See docs/evaluation.md.",
    "recon": "MPJPE: root-aligned joint error (mm); PA-MPJPE after similarity Procrustes (mm); APE/AVE: MLD/TEMOS "
             "definitions (APE in cm); FID of the reconstructions against the ground truth. See docs/evaluation.md.",
    "pose": "2D: mean joint error in pixels, PCK@t = fraction of joints within t px, err_px_lr_tolerant = per-image "
            "minimum over the ground truth and its left/right mirror. 3D: MPJPE/PA-MPJPE in mm, hit rate = "
            "fraction with PA-MPJPE ≤ 100 mm. See docs/evaluation.md.",
}


def register(subparsers) -> None:
    group = add_group(subparsers, "eval", "score predictions of a task on a dataset split (JSON + markdown table)")
    for task, help_text in TASKS.items():
        p = group.add_parser(task, help=help_text, description=help_text,
                             formatter_class=argparse.ArgumentDefaultsHelpFormatter)
        p.add_argument("--pred", default=None,
                       help="predictions (format: docs/evaluation.md); omitted: only the Real row")
        p.add_argument("--data", default="../data/bandaiml", help="HumanML3D-layout dataset folder (BandaiML)")
        p.add_argument("--split", default="test", help="split file name (test, test_novel, val, ...)")
        p.add_argument("--out", default=None, help="output stem: writes OUT.json and OUT.md (default eval_TASK_SPLIT)")
        p.add_argument("--name", default="generated", help="row label of the predictions")
        p.add_argument("--replications", type=int, default=20, help="repetitions with reshuffled pools")
        p.add_argument("--seed", type=int, default=0, help="base seed of the replications")
        if task != "pose":
            p.add_argument("--evaluator", default=None,
                           help="evaluator checkpoint (retrieval_evaluator or guo_t2m_evaluator); default "
                                "checkpoints/evaluator_bandaiml")
            p.add_argument("--diversity-pairs", type=int, default=150, help="random pairs for Diversity")
            p.add_argument("--batch-size", type=int, default=32, help="R-precision pool size (the protocol uses 32)")
        if task == "t2m":
            p.add_argument("--captions", default=None,
                           help="JSON {id: caption} the motions were generated from (default: PRED/captions.json if "
                                "present, else a caption of the motion drawn per replication)")
        if task == "pred":
            p.add_argument("--prefix-ratio", type=float, default=0.2, help="observed fraction of each motion")
        if task == "edit":
            p.add_argument("--edits", required=True, help="JSON list of {id, source, target, instruction}")
        if task == "pose":
            p.add_argument("--views", choices=("images", "videos"), default="images",
                           help="renders/images (single frames) or renders/videos (clip frames)")
            p.add_argument("--max-images", type=int, default=0, help="score only the first N frames (0 = all)")
        p.set_defaults(func=_make_handler(task))


def _make_handler(task: str):
    def handler(args: argparse.Namespace) -> int:
        return run_task(task, args)

    return handler


def run_task(task: str, args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from ..errors import InputError
    from ..evaluation import tasks as T
    from ..evaluation.reports import results_meta, write_results

    if args.replications < 1:
        raise InputError(f"--replications must be >= 1, got {args.replications}")
    batch = getattr(args, "batch_size", 32)
    config = T.EvalConfig(
        batch_size=batch, replications=args.replications, seed=args.seed,
        diversity_pairs=getattr(args, "diversity_pairs", 150), prefix_ratio=getattr(args, "prefix_ratio", 0.2),
        allow_nonstandard_batch_size=batch != 32,
    )
    out = args.out or f"eval_{task}_{args.split}"
    meta_extra = {"task": task, "data": str(args.data), "split": args.split, "predictions": args.pred}
    if task == "pose":
        views = T.load_rendered_views(args.data, args.split, args.views, max_images=args.max_images or None)
        preds = T.pose_predictions(args.pred, views) if args.pred else None
        rows = T.evaluate_pose(args.data, views, preds, config, name=args.name)
    else:
        evaluator = T.load_evaluator(args.evaluator)
        meta_extra["evaluator"] = str(args.evaluator or T.default_checkpoint("evaluator_bandaiml"))
        data = T.load_split(args.data, args.split)
        if task == "t2m":
            preds = T.read_arrays(args.pred) if args.pred else None
            captions = None
            cap_file = args.captions or (Path(args.pred) / "captions.json" if args.pred and Path(args.pred).is_dir() else None)
            if cap_file is not None and Path(cap_file).is_file():
                captions = T.read_captions(cap_file)
            elif args.captions:
                raise FileNotFoundError(f"caption file {args.captions} does not exist")
            rows = T.evaluate_t2m(evaluator, data, preds, config, name=args.name, captions=captions)
        elif task == "m2t":
            preds = T.read_captions(args.pred) if args.pred else None
            rows = T.evaluate_m2t(evaluator, data, preds, config, name=args.name)
        elif task == "pred":
            preds = T.read_arrays(args.pred) if args.pred else None
            rows = T.evaluate_prediction(evaluator, data, preds, config, name=args.name)
        elif task == "edit":
            edits = T.read_edits(args.edits)
            preds = T.read_arrays(args.pred) if args.pred else None
            rows = T.evaluate_edit(evaluator, data, edits, preds, config, name=args.name)
        elif task == "recon":
            preds = T.read_arrays(args.pred) if args.pred else None
            rows = T.evaluate_recon(evaluator, data, preds, config, name=args.name)
        else:  # pragma: no cover - argparse restricts the choices
            raise InputError(f"unknown task {task!r}")
    from dataclasses import asdict

    meta = results_meta(budget=f"{config.replications} replications, pools of {config.batch_size}",
                        **meta_extra, eval_config=asdict(config))
    json_path, md_path = write_results(out, rows, meta, f"{TITLES[task]} ({args.split})", notes=NOTES[task])
    print(md_path.read_text(encoding="utf-8"))
    print(f"wrote {json_path} and {md_path}")
    return 0
