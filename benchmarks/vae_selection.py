"""Hyper-parameter selection of the shipped CMA-VAE, on the BandaiML **val** split only.

Each variant is the Table-6 CMA-VAE recipe (``configs/vae/cma_vae.yaml``) with a few overrides, trained
for ``--steps`` steps into ``RUNS/<variant>`` (resumed when unfinished, reused when finished; ``--no-train``
only reads what exists). Two records per variant:

* its training curve — the recipe's val monitor (MPJPE of the first 128 val motions) read from the run's
  TensorBoard log, whatever step the run reached (a run stopped early shows a partial curve);
* for finished runs, the whole val split: MPJPE (mm), and R@3 / FID of the reconstructions through the
  BandaiML retrieval evaluator (20 pool replications), as in ``benchmarks/ablation_vae.py``.

    python benchmarks/vae_selection.py --runs ../runs/exp          # → docs/results/vae_selection.{json,md}

The choice it records is made on val; test numbers of the shipped VAE come from ``ablation_vae.py --ship``.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

#: variant name → (what it changes, overrides of configs/vae/cma_vae.yaml)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "e1": ("Table-6 CMA-VAE recipe (SmoothL1, dropout 0.1, image fraction 0.5)", []),
    "e2": ("L1 loss, no dropout, also decode z_motion for image samples",
           ["model.recon_loss=l1", "model.encoder.dropout=0.0", "model.decoder.dropout=0.0",
            "model.fused_encoder.dropout=0.0", "model.recon_motion_for_image_samples=true"]),
    "e3": ("+ velocity loss 0.5 on the RIC positions (T2M-GPT's, channels 4:67)",
           ["model.lambda_vel=0.5", "model.vel_mode=channels"]),
    "e4": ("e3 + residual conv decoder (decoder_arch resnet_upsample)",
           ["model.lambda_vel=0.5", "model.vel_mode=channels", "model.decoder_arch=resnet_upsample"]),
}
COLUMNS = ["variant", "what", "steps reached", "val monitor MPJPE by step (mm)", "val MPJPE (mm)", "val R@3",
           "val FID"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", default=str(REPO.parent / "runs" / "exp"), help="folder of the variant runs")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    p.add_argument("--steps", type=int, default=1000, help="training steps of every variant")
    p.add_argument("--no-train", action="store_true", help="only read the runs that exist")
    p.add_argument("--evaluator", default=str(REPO / "checkpoints" / "evaluator_bandaiml"))
    p.add_argument("--data", default=str(REPO.parent / "data" / "bandaiml"))
    p.add_argument("--compare-pinning", default=None, metavar="VAE_DIR",
                   help="also score this VAE checkpoint on val with and without its constant channels pinned")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default=str(REPO / "docs" / "results" / "vae_selection"))
    return p.parse_args(argv)


def curve(run: Path) -> list[tuple[int, float]]:
    """(step, val monitor MPJPE) pairs from the run's TensorBoard log."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: dict[int, float] = {}
    for f in sorted((run / "tb").glob("events.out.tfevents.*")):
        ea = EventAccumulator(str(f), size_guidance={"scalars": 0})
        ea.Reload()
        if "eval/mpjpe_mm" in ea.Tags()["scalars"]:
            points.update({int(e.step): float(e.value) for e in ea.Scalars("eval/mpjpe_mm")})
    return sorted(points.items())


def finished(run: Path, steps: int) -> bool:
    import json

    summary = run / "train_summary.json"
    return summary.is_file() and int(json.loads(summary.read_text()).get("steps", -1)) >= steps


def train(run: Path, overrides: list[str], steps: int, threads: int) -> None:
    cmd = [sys.executable, "-m", "unimotion.cli", "train", "vae", "--config", str(REPO / "configs" / "vae" / "cma_vae.yaml"),
           "--set", f"trainer.out_dir={run}", "--set", f"trainer.max_steps={steps}", "--set", "trainer.eval_every=250",
           "--set", f"num_threads={threads}", "--set", "trainer.progress=false", "--resume"]
    for o in overrides:
        cmd += ["--set", o]
    print("$", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)


def evaluate_val(model_dir: Path, data_root: str, evaluator, constant: tuple[int, ...] | None = None) -> dict[str, float]:
    """MPJPE, R@3 and FID of the deterministic reconstructions of every val motion (``constant``: replace
    the checkpoint's ``constant_channels``)."""
    from unimotion.evaluation import tasks as T
    from unimotion.models.modeling_utils import load_pretrained
    from unimotion.training.recipes.vae import reconstruct_motions, reconstruction_metrics

    model = load_pretrained(model_dir).eval()
    if constant is not None:
        model.config.constant_channels = tuple(constant)
    data = T.load_split(data_root, "val", feature_dir="new_joint_vecs_269")
    gt = [r.motion[: T.crop_length(r.length, 4)].astype(np.float32) for r in data.records]
    rec = reconstruct_motions(model, [model.stats.normalize(g).astype(np.float32) for g in gt], 32)
    rec = [model.stats.denormalize(r) for r in rec]
    mpjpe = reconstruction_metrics(gt, rec)["MPJPE_mm"]
    cfg = T.EvalConfig(replications=20, seed=0)
    rows = T.evaluate_t2m(evaluator, data, dict(zip(data.ids, rec, strict=True)), cfg, "recon")
    return {"val MPJPE (mm)": mpjpe, "val R@3": rows[1]["R@3"], "val FID": rows[1]["FID"]}


def main(argv: list[str] | None = None) -> int:
    import torch

    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.reports import results_meta, write_results

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()
    evaluator = T.load_evaluator(args.evaluator)
    rows: list[dict[str, Any]] = []
    for name in args.variants:
        what, overrides = VARIANTS[name]
        run = Path(args.runs) / name
        if not args.no_train and not finished(run, args.steps):
            train(run, overrides, args.steps, args.threads)
        points = curve(run) if run.is_dir() else []
        row: dict[str, Any] = {"variant": name, "what": what, "overrides": overrides,
                               "steps reached": points[-1][0] if points else 0,
                               "val monitor MPJPE by step (mm)": ", ".join(f"{s}: {v:.1f}" for s, v in points),
                               "curve": points}
        if finished(run, args.steps):
            model_dir = run / "inference" if (run / "inference").is_dir() else run / "final"
            row.update(evaluate_val(model_dir, args.data, evaluator))
        rows.append(row)
        print(f"[{name}] {row['val monitor MPJPE by step (mm)']}", flush=True)
    if args.compare_pinning:
        from unimotion.data.humanml3d import HumanML3DReader
        from unimotion.training.recipes.vae import constant_channels

        train_split = HumanML3DReader(args.data, "train", feature_dir="new_joint_vecs_269", require_text=False)
        pinned = constant_channels(train_split, 1e-6)
        for what, chans in ((f"{args.compare_pinning}, decoder output as trained (no channel pinned)", ()),
                            (f"{args.compare_pinning}, channels {list(pinned)} pinned", pinned)):
            rows.append({"variant": "pinning", "what": what, **evaluate_val(Path(args.compare_pinning), args.data,
                                                                            evaluator, chans)})
            print(f"[pinning] {what}: {rows[-1]['val R@3']}", flush=True)
    command = "python benchmarks/vae_selection.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = results_meta(command=command.strip(), budget={"steps_per_variant": args.steps, "batch": 32},
                        wall_s=round(time.time() - started, 1))
    notes = ("Selection on **val** only. The monitor column is the training recipe's val monitor (first 128 val "
             "motions, every 250 steps); the last three columns score every val motion for runs that reached "
             f"{args.steps} steps (R@3 / FID: mean ± 95 % CI over 20 pool replications).")
    write_results(args.out, rows, meta, title="CMA-VAE hyper-parameter selection (BandaiML val)", columns=COLUMNS,
                  notes=notes)
    print(f"wrote {args.out}.json and .md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
