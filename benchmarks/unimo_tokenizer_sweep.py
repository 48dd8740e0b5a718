"""UniMo motion-tokenizer sweep on BandaiML: temporal expansion s × codebook size K (the paper's Tab. 5).

Trains one tokenizer per (s, K) with ``configs/unimo/motion_tokenizer.yaml`` (same data, steps, batch and
architecture; only ``model.expansion`` and ``model.codebook_size`` change), measures the reconstruction of
the test splits and writes ``docs/results/unimo_tokenizer_bandaiml.{json,md}``.

Metrics (per canonical 17-frame clip, then averaged; joints = SMPL-X FK of the parameters, the ground
truth is the BandaiML SMPL-X fit of the real mocap): MPJPE (pelvis-aligned), PA-MPJPE (per-frame
Procrustes), W-MPJPE (no alignment, clip-canonical frame), translation error (pelvis position), global
orientation error, code usage (perplexity, used codes).

    python benchmarks/unimo_tokenizer_sweep.py --lock /work/notes/cpu.lock            # the full 3 × 3 sweep
    python benchmarks/unimo_tokenizer_sweep.py --expansions 1 --codebooks 256 --steps 20 \\
        --runs-root /tmp/sweep --out /tmp/sweep/result                                # a quick check

Runs are resumable: a configuration whose run folder already holds ``final/`` and the reconstruction files
is not retrained (``--retrain`` forces it). With ``--lock`` each training run holds that file lock
(``flock``), so heavy jobs of several people run one at a time without this script holding the lock
between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from unimotion.utils.io import file_lock  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

COLUMNS = ["s", "K", "tokens_per_clip", "split", "mpjpe_mm", "pa_mpjpe_mm", "w_mpjpe_mm", "transl_err_mm",
           "orient_err_deg", "perplexity", "codes_used", "train_min"]


def run_one(config_path: str, s: int, k: int, runs_root: Path, splits: list[str], overrides: list[str],
            lock: str | None, retrain: bool) -> tuple[dict, float]:
    """Train (unless done) and return ({split: recon metrics}, training minutes)."""
    from unimotion.config import load_config
    from unimotion.training.recipes import unimo_motion_tokenizer as recipe

    out_dir = runs_root / f"unimo_mt_s{s}_k{k}"
    files = {split: out_dir / f"recon_{split}.json" for split in splits}
    done = (out_dir / "final" / "model.safetensors").is_file() and all(f.is_file() for f in files.values())
    if not done or retrain:
        cfg = load_config(recipe.CONFIG_CLASS, config_path, [
            f"model.expansion={s}", f"model.codebook_size={k}", f"trainer.out_dir={out_dir}",
            f"data.eval_splits=[{','.join(splits)}]", "export_dir=", *overrides,
        ])
        with file_lock(lock):
            print(f"[sweep] training s={s} K={k} → {out_dir}", flush=True)
            recipe.run(cfg, argparse.Namespace(resume=False))
    summary = json.loads((out_dir / "train_summary.json").read_text())
    return {split: json.loads(f.read_text()) for split, f in files.items()}, summary["wall_seconds_this_run"] / 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(REPO / "configs" / "unimo" / "motion_tokenizer.yaml"))
    parser.add_argument("--expansions", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--codebooks", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--splits", nargs="+", default=["test", "test_novel"])
    parser.add_argument("--runs-root", default=str(REPO.parent / "runs"))
    parser.add_argument("--steps", type=int, default=0, help="override trainer.max_steps (0: the config's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="extra config override")
    parser.add_argument("--lock", default=None, help="file to flock around each training run")
    parser.add_argument("--retrain", action="store_true")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "unimo_tokenizer_bandaiml"))
    args = parser.parse_args(argv)
    from unimotion.utils.logging import setup_logging

    setup_logging(0)

    from unimotion.config import load_config
    from unimotion.evaluation.reports import results_meta, write_results
    from unimotion.training.recipes import unimo_motion_tokenizer as recipe

    overrides = list(args.overrides) + ([f"trainer.max_steps={args.steps}"] if args.steps else [])
    base = load_config(recipe.CONFIG_CLASS, args.config, overrides)
    runs_root = Path(args.runs_root)
    rows, details = [], {}
    started = time.time()
    for s in args.expansions:
        for k in args.codebooks:
            metrics, minutes = run_one(args.config, s, k, runs_root, args.splits, overrides, args.lock, args.retrain)
            details[f"s{s}_k{k}"] = metrics
            for split in args.splits:
                m = metrics[split]["tiles"]
                rows.append({"s": s, "K": k, "tokens_per_clip": base.data.clip_frames * s // base.model.frames_per_step,
                             "split": split, **{c: m[c] for c in COLUMNS[4:-1]}, "train_min": round(minutes, 2)})
    rows.sort(key=lambda r: (r["s"], r["K"], args.splits.index(r["split"])))
    t = base.trainer
    budget = (f"per configuration: {t.max_steps} steps × batch {t.batch_size} clips of {base.data.clip_frames} frames "
              f"(lr {t.optim.lr}, {t.optim.schedule}), {base.threads} CPU thread(s); train_min = measured wall time")
    command = " ".join(["python", "benchmarks/unimo_tokenizer_sweep.py", *(sys.argv[1:] if argv is None else argv)])
    meta = results_meta(budget=budget, command=command, config=args.config, architecture={k: v for k, v in vars(base.model).items()},
                        video_clip_metrics={k: {sp: v[sp].get("video_clips") for sp in v} for k, v in details.items()},
                        sweep_wall_min=round((time.time() - started) / 60, 2))
    notes = f"""
**What is measured.** Each configuration is trained on canonical 17-frame SMPL-X clips of the BandaiML
train split (one random window per motion per epoch) and reconstructs every consecutive 17-frame tile of
the {' / '.join(args.splits)} motions (`tiles`; the clips of the stored video renders are in the JSON's
`meta.video_clip_metrics`). Errors are in the clip's canonical frame (pelvis above the origin and facing
+Z at frame 0), on the 22 SMPL-X body joints (FK of the parameters, mannequin-x rest skeleton); the ground
truth is the BandaiML SMPL-X fit of the real mocap. MPJPE: pelvis-aligned; PA-MPJPE: per-frame Procrustes
(similarity) alignment; W-MPJPE: no alignment; transl: pelvis position error; orient: geodesic error of
the global orientation. Perplexity and used codes count code usage over the evaluated clips.

**s (our interpretation).** Each frame (down_t = 0, r = 1) is described by s consecutive codes of one
codebook: the encoder emits s·d channels per step, split into s vectors that are quantised separately and
concatenated again for the decoder, so a clip of T frames has T·s tokens (`tokens_per_clip`).

The paper's Tab. 5 numbers are not available to us (spec §5); this table is our own measurement on
BandaiML. Each configuration trains with the same small CPU budget (below), so the absolute errors reflect
that budget as much as the architecture.
"""
    json_path, md_path = write_results(args.out, rows, meta, "UniMo motion tokenizer on BandaiML: s × codebook size",
                                       columns=COLUMNS, notes=notes, digits=2)
    print(md_path.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
