"""Training-step time of the trainer's speed/memory options, measured through the Trainer itself.

Variants (``TrainerConfig`` fields): ``eager`` (fp32), ``compile`` (``torch.compile`` of the blocks, or of the
whole step for a model without blocks), ``bf16`` (autocast), ``activation checkpointing`` (models with blocks
only) and ``compile + bf16``.
Models: ``unimotion`` — the architecture of ``configs/unimotion/bandaiml.yaml`` (the shipped demo's; 4-layer
Qwen2 backbone) on T2M examples of 196-frame motions (49 latent tokens); ``vae`` — the CMA-VAE of
``configs/vae/cma_vae_no_dpa.yaml`` on 196-frame motions.

Every variant trains ``--steps`` optimizer steps on random data; the time per step is the median over the
steps after ``--warmup`` (compilation happens in the first steps and is reported apart as ``first steps s``).
The speed-up is relative to ``eager`` of the same model. Timings on a shared CPU are noisy: compare rows of
one run.

    python benchmarks/trainer_speed.py                               # writes docs/results/trainer_speed.{json,md}
    python benchmarks/trainer_speed.py --models vae --steps 6 --warmup 2 --out /tmp/speed
    python benchmarks/trainer_speed.py --render                     # rewrite the markdown from the JSON
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
VARIANTS = {
    "eager": {},
    "compile": {"compile": True},
    "bf16": {"precision": "bf16"},
    "activation checkpointing": {"activation_checkpointing": True},
    "compile + bf16": {"compile": True, "precision": "bf16"},
}
CAPTION = "a person walks forward slowly, then turns around and jogs back to where they started."


def build(model_name: str, args):
    """(model, dataset, collate_fn, description) with a fixed seed."""
    import torch
    from torch.utils.data import Dataset

    from unimotion.config import from_dict, load_yaml

    torch.manual_seed(args.seed)
    if model_name == "unimotion":
        from unimotion.models.unimotion import TaskExample, UniMotionConfig, UniMotionModel
        from unimotion.models.unimotion.model import collate_examples

        data = dict(load_yaml(REPO / "configs" / "unimotion" / "bandaiml.yaml")["model"])
        data.update(latent_dim=32, max_latent_len=64)
        model = UniMotionModel(from_dict(UniMotionConfig, data, where="model"))
        latent_len = math.ceil(args.frames / 4)

        class Examples(Dataset):
            def __len__(self):
                return 256

            def __getitem__(self, i):
                z = torch.randn(latent_len, 32, generator=torch.Generator().manual_seed(i))
                return TaskExample("t2m", caption=CAPTION, target=z)

        return model, Examples(), collate_examples, "configs/unimotion/bandaiml.yaml model, T2M, 49 latent tokens"
    from unimotion.models.autoencoders import CMAVAE, CMAVAEConfig
    from unimotion.training.recipes.vae import VAECollate

    data = dict(load_yaml(REPO / "configs" / "vae" / "cma_vae_no_dpa.yaml")["model"])
    data.update(input_dim=263, max_frames=args.frames, vision_branch=False)
    model = CMAVAE(from_dict(CMAVAEConfig, data, where="model"))
    frames = args.frames

    class Motions(Dataset):
        def __len__(self):
            return 256

        def __getitem__(self, i):
            return {"motion": torch.randn(frames, 263, generator=torch.Generator().manual_seed(i)), "name": str(i)}

    return model, Motions(), VAECollate(1.0), f"configs/vae/cma_vae_no_dpa.yaml model, {frames}-frame motions"


def run_variant(model_name: str, variant: str, args) -> dict:
    import torch

    from unimotion.training.trainer import OptimConfig, Trainer, TrainerConfig

    model, dataset, collate, desc = build(model_name, args)
    stamps: list[float] = []

    def stamp(m, step):
        stamps.append(time.perf_counter())
        return {}

    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainerConfig(out_dir=tmp, max_steps=args.steps, batch_size=args.batch, log_every=args.steps,
                            eval_every=1, save_every=0, progress=False, device="cpu", seed=args.seed,
                            optim=OptimConfig(lr=1e-4), **VARIANTS[variant])
        trainer = Trainer(model, cfg, dataset, collate_fn=collate, eval_fn=stamp)
        start = time.perf_counter()
        trainer.fit()
    steps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)][args.warmup - 1 :]
    return {"model": model_name, "variant": variant, "step s": statistics.median(steps),
            "first steps s": stamps[args.warmup - 1] - start if args.warmup else 0.0,
            "batch": args.batch, "steps timed": len(steps), "what": desc,
            "torch threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "trainer_speed"), help="output stem")
    parser.add_argument("--models", nargs="+", default=["unimotion", "vae"], choices=["unimotion", "vae"])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--warmup", type=int, default=4, help="steps left out of the timing (compilation)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--render", action="store_true", help="only rewrite OUT.md from OUT.json")
    args = parser.parse_args(argv)
    if args.render:
        sys.path.insert(0, str(REPO / "src"))
        return render(args.out)
    if not 1 <= args.warmup < args.steps - 1:
        parser.error("need 1 <= --warmup < --steps - 1")

    import torch

    sys.path.insert(0, str(REPO / "src"))
    from unimotion.evaluation.reports import markdown_table, results_meta, write_results
    from unimotion.utils.logging import setup_logging

    setup_logging(-1)
    torch.set_num_threads(args.threads)
    rows = []
    load = [os.getloadavg()[0]]
    for model_name in args.models:
        eager = None
        for variant in args.variants:
            if VARIANTS[variant].get("activation_checkpointing") and model_name == "vae":
                continue  # the VAE has no block_modules(): nothing to checkpoint
            row = run_variant(model_name, variant, args)
            row["load average"] = os.getloadavg()[0]
            load.append(row["load average"])
            if variant == "eager":
                eager = row["step s"]
            row["speed-up vs eager"] = eager / row["step s"] if eager else None
            rows.append(row)
            print(f"{model_name:10s} {variant:26s} {row['step s']:.3f} s/step")
    columns = ["model", "variant", "step s", "speed-up vs eager", "first steps s", "batch", "steps timed",
               "load average", "what"]
    meta = results_meta(budget={"steps": args.steps, "warmup": args.warmup, "batch": args.batch,
                                "threads": args.threads, "frames": args.frames}, device="cpu",
                        cpu_cores=os.cpu_count(), load_average_1min=load)
    write_results(args.out, rows, meta, TITLE, columns=columns, notes=notes_for(meta))
    print(markdown_table(rows, columns))
    return 0


TITLE = "Trainer options: step time (CPU)"


def notes_for(meta: dict) -> str:
    """The text under the table (from the JSON's meta, so ``--render`` can rewrite it)."""
    b = meta["budget"]
    return ("CPU only (no GPU was lent for these measurements). `first steps s` is the wall time of the first "
            f"{b['warmup']} step(s), where `torch.compile` compiles; `step s` the median of the later steps. "
            f"`load average` is the machine's 1-minute load after the row ({meta.get('cpu_cores')} cores): other "
            "jobs shared the CPU, so rows measured under different loads are only roughly comparable, and a "
            "compiled variant whose graphs were still recompiling after the warm-up steps is timed with that "
            "cost. How fast bf16 runs on a CPU depends on its native bfloat16 support; on GPUs bf16 is the "
            "default of the paper-size recipes.")


def render(stem: str) -> int:
    """Rewrite ``stem.md`` from ``stem.json`` (no new measurement)."""
    from unimotion.evaluation.reports import render_markdown
    from unimotion.utils.io import write_text

    payload = json.loads(Path(stem).with_suffix(".json").read_text(encoding="utf-8"))
    write_text(Path(stem).with_suffix(".md"), render_markdown(payload, TITLE, notes_for(payload["meta"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
