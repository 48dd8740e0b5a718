"""The paper-size UniMotion measured: Qwen2.5-1.5B architecture (random weights, built from a local config).

For each training stage the project implements (spec §6: Stage 0 LRA, Stage 1a T2M, Stage 1b multitask) it

* counts parameters: total, trainable tensors, and "updated" (trainable minus the entries whose gradient is
  fixed at 0: the pretrained embedding rows of ``embeddings: new_tokens``, the other LoRA branch in Stage 0);
* runs forward + backward at batch 1 on one realistic example (a 196-frame motion = 49 latent tokens with a
  HumanML3D-length caption, chat template) and measures the step time (median of ``--repeats``) and the
  process's peak resident memory during the step (sampled every 5 ms), on this machine's CPU by default;
* projects the memory per GPU of FSDP2 training on ``--gpus`` GPUs (bf16 mixed precision: float32 sharded
  parameters, gradients and AdamW moments, bfloat16 gathered units, activations scaled from the CPU step);
* on a GPU (``--device cuda``, or automatically when CUDA is available) measures a real bf16 step
  (forward + backward + AdamW) and its peak memory; without one the JSON says ``not measured: no GPU lent``.

The optimizer state is not allocated on the CPU (1.5 B parameters would need ~25 GB with it): its size is
computed (AdamW: two float32 moments per element of every trainable tensor).

    python benchmarks/paper_size.py                        # writes docs/results/paper_size.{json,md}
    python benchmarks/paper_size.py --device cuda          # on a GPU machine: adds the measured bf16 step
    python benchmarks/paper_size.py --tiny --out /tmp/ps   # a 2-layer stand-in (tests)

Run it once, niced: the model takes ~7 GB of RAM in float32.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
GB = 1024**3

CAPTION = "a person walks forward slowly, then turns around and jogs back to where they started."
# stage name -> (task of the example, trainable groups of the recipe, spec §6 step count or None)
STAGES = {
    "lra": ("m2m", ["embedder", "time_embedder", "flow_head", "lora_motion"], 80_000),
    "t2m": ("t2m", ["all"], None),
    "multitask": ("editing", ["all"], None),
}
TINY_BACKBONE = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
                 "num_key_value_heads": 2}


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled by a thread)."""

    def __init__(self, interval: float = 0.005):
        import psutil

        self.proc = psutil.Process()
        self.interval = interval
        self.peak = 0

    def current(self) -> int:
        return int(self.proc.memory_info().rss)

    def __enter__(self):
        self.peak = self.current()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.current())
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.current())
        return False


def build_model(args):
    import torch

    from unimotion.models.unimotion.model import UniMotionModel, paper_config
    from unimotion.models.unimotion.tokenizer import default_tokenizer

    cfg = paper_config(latent_dim=args.latent_dim)
    if args.tiny:
        cfg.backbone.overrides = dict(TINY_BACKBONE)
        cfg.embedder.semantic_width, cfg.embedder.semantic_layers, cfg.embedder.semantic_heads = 32, 1, 2
        cfg.flow_head.num_blocks, cfg.flow_head.num_heads = 1, 4
        cfg.lora.rank, cfg.lora.alpha = 4, 4.0
    torch.manual_seed(args.seed)
    model = UniMotionModel(cfg, tokenizer=default_tokenizer())
    as_pretrained(model)
    return model


def as_pretrained(model) -> None:
    """Treat the random backbone's embedding rows as pretrained, as they are with the released
    Qwen2.5-1.5B-Instruct: under ``embeddings: new_tokens`` only the rows of the modality tokens are updated
    (what ``UniMotionModel`` does for a ``pretrained_path`` backbone)."""
    from unimotion.models.unimotion.backbone import set_backbone_trainability
    from unimotion.models.unimotion.routed_lora import RoutedLoRALinear

    ids = model.builder.ids
    new_ids = sorted({*ids.span_start.values(), *ids.span_end.values(), *ids.span_pad.values()})
    rows = model.backbone.get_input_embeddings().weight.shape[0]
    model.num_pretrained_tokens, model.new_token_ids = rows, new_ids
    model._grad_hooks = set_backbone_trainability(model.backbone, model.config.backbone, rows, new_ids)
    for m in model.modules():  # set_backbone_trainability reset every backbone flag: LoRA trains again
        if isinstance(m, RoutedLoRALinear):
            m.lora_A.requires_grad_(True)
            m.lora_B.requires_grad_(True)


def example(task: str, latent_len: int, latent_dim: int, seed: int):
    import torch

    from unimotion.models.unimotion import TaskExample

    g = torch.Generator().manual_seed(seed)
    z = torch.randn(latent_len, latent_dim, generator=g)
    if task == "t2m":
        return TaskExample("t2m", caption=CAPTION, target=z)
    if task == "m2m":
        return TaskExample("m2m", source=z)
    src = torch.randn(latent_len, latent_dim, generator=g)
    return TaskExample("editing", source=src, instruction="raise the left arm higher and walk faster.", target=z)


def component_counts(model) -> dict[str, int]:
    """Parameters by component (tied tensors once)."""
    seen, out = set(), {}
    emb = model.backbone.get_input_embeddings().weight
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        if p is emb:
            key = "backbone embeddings (tied LM head)"
        elif name.endswith("lora_A") or name.endswith("lora_B"):
            key = "routed LoRA"
        elif name.startswith("backbone."):
            key = "backbone base (decoder layers, norms)"
        else:
            key = name.split(".")[0]
        out[key] = out.get(key, 0) + p.numel()
    return out


def updated_elements(model) -> int:
    """Trainable tensor elements whose gradient scale is not 0 (``scale_gradient``)."""
    import torch

    from unimotion.models.modeling_utils import GRAD_SCALE_ATTR

    seen, total = set(), 0
    for p in model.parameters():
        if id(p) in seen or not p.requires_grad:
            continue
        seen.add(id(p))
        scale = getattr(p, GRAD_SCALE_ATTR, None)
        total += p.numel() if scale is None else int(torch.count_nonzero(scale.expand_as(p)))
    return total


def measure_stage(model, stage: str, args, base_flags: dict) -> dict:

    from unimotion.models.unimotion.model import collate_examples
    from unimotion.training.recipes.unimotion import select_trainable

    task, groups, paper_steps = STAGES[stage]
    hooks = select_trainable(model, groups, base_flags)
    trainable = sum(p.numel() for p in {id(p): p for p in model.parameters() if p.requires_grad}.values())
    updated = updated_elements(model)
    latent_len = math.ceil(args.frames / 4)
    ex = example(task, latent_len, model.config.latent_dim, args.seed)
    tokens = int(model.builder.build([ex], with_answer=True).input_ids.shape[1])
    batch = collate_examples([ex] * args.batch)
    model.train()
    times, peaks, base = [], [], 0
    monitor = PeakRSS()
    flops = count_flops(lambda: model.training_step(batch, 0)["loss"].backward())  # also the warm-up
    for _ in range(args.repeats):
        model.zero_grad(set_to_none=True)
        base = monitor.current()
        with monitor:
            t0 = time.perf_counter()
            out = model.training_step(batch, 0)
            out["loss"].backward()
            times.append(time.perf_counter() - t0)
        peaks.append(monitor.peak)
    grad_bytes = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    for h in hooks:
        h.remove()
    step_peak = max(peaks)
    # activations (float32 on the CPU) ≈ what the step adds beyond the gradients it leaves
    act_bytes = max(0, step_peak - base - grad_bytes)
    return {
        "stage": stage,
        "task of the example": task,
        "trainable": trainable,
        "updated": updated,
        "paper steps": paper_steps,
        "tokens": tokens,
        "batch": args.batch,
        "cpu fwd+bwd s": statistics.median(times),
        "TFLOP per sample": flops / args.batch / 1e12,
        "cpu peak RSS GB": step_peak / GB,
        "cpu step working set GB": (step_peak - base) / GB,
        "_act_bytes_per_token": act_bytes / max(1, tokens * args.batch),
        "_grad_bytes": grad_bytes,
    }


def count_flops(step) -> int:
    """FLOPs of ``step()`` (matrix products, convolutions, attention) counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


def measure_vae(args) -> dict:
    """The HumanML3D CMA-VAE (``--vae-recipe``): parameters, FLOPs and CPU step time at the recipe's batch."""
    import torch

    from unimotion.config import load_config
    from unimotion.models.autoencoders import CMAVAE
    from unimotion.training.recipes.vae import TrainVAEConfig, VAECollate, model_config

    cfg = load_config(TrainVAEConfig, args.vae_recipe, [])
    torch.manual_seed(args.seed)
    vae = CMAVAE(model_config(cfg, input_dim=263)).train()
    b = cfg.trainer.batch_size
    items = [{"motion": torch.randn(args.frames, 263, generator=torch.Generator().manual_seed(i))} for i in range(b)]
    batch = VAECollate(1.0)(items)
    flops = count_flops(lambda: vae.training_step(batch, 0)["loss"].backward())
    times = []
    for _ in range(args.repeats):
        vae.zero_grad(set_to_none=True)
        t0 = time.perf_counter()
        vae.training_step(batch, 0)["loss"].backward()
        times.append(time.perf_counter() - t0)
    n = sum(p.numel() for p in vae.parameters())
    return {"stage": "cma_vae", "task of the example": "reconstruction", "total": n, "trainable": n, "updated": n,
            "AdamW state GB (computed)": n * 8 / GB, "paper steps": 210_000, "tokens": args.frames, "batch": b,
            "cpu fwd+bwd s": statistics.median(times), "TFLOP per sample": flops / b / 1e12}


def wall_time_estimates(rows: list[dict], args, gpu: dict) -> list[dict]:
    """Expected wall time of the HumanML3D recipe's stages on ``--gpus`` GPUs.

    With a measured GPU step (``gpu``, batch = the recipe's per-GPU batch) the step time is that measurement
    (FSDP2 communication not included); without one it is FLOPs / (GPUs × peak × assumed utilisation).
    """
    from unimotion.config import load_config
    from unimotion.training.recipes.unimotion import TrainUniMotionConfig, stage_trainer_config

    um = load_config(TrainUniMotionConfig, args.recipe, [])
    plan = {name: stage_trainer_config(um, name) for name in um.stage_order}
    out = []
    for row in rows:
        if row["stage"] == "cma_vae":
            from unimotion.training.recipes.vae import TrainVAEConfig

            tcfg = load_config(TrainVAEConfig, args.vae_recipe, []).trainer
        elif row["stage"] in plan:
            tcfg = plan[row["stage"]]
        else:
            continue
        step_batch = tcfg.batch_size * args.gpus * tcfg.grad_accum
        flops_step = row["TFLOP per sample"] * 1e12 * step_batch
        est = flops_step / (args.gpus * args.gpu_peak_tflops * 1e12 * args.assumed_mfu)
        measured = gpu.get("step_s") if gpu.get("status") == "measured" and row["stage"] != "cma_vae" else None
        step_s = measured if measured is not None else est
        out.append({"stage": row["stage"], "steps": tcfg.max_steps, "examples per step": step_batch,
                    "step s": step_s, "source": "measured (1 GPU, per-GPU batch)" if measured is not None else
                    f"estimate: FLOPs at {args.assumed_mfu:.0%} of {args.gpu_peak_tflops:g} TFLOP/s",
                    "hours": tcfg.max_steps * step_s / 3600})
    return out


def fsdp_projection(total: int, trainable_by_stage: dict, comp: dict, layers: int, act_per_token_fp32: float,
                    gpus: int, batch_per_gpu: int, tokens: int) -> dict:
    """Memory per GPU of FSDP2 + bf16 mixed precision (float32 master weights and AdamW moments)."""
    trainable = max(trainable_by_stage.values())
    per_layer = comp.get("backbone base (decoder layers, norms)", 0) / max(1, layers) + \
        comp.get("routed LoRA", 0) / max(1, layers)
    root = total - per_layer * layers  # the root unit: embeddings, embedder, flow head, final norm
    sharded = (total * 4 + trainable * 4 + trainable * 8) / gpus  # params + grads + AdamW (m, v)
    gathered = (root + 2 * per_layer) * 2  # bf16: root unit + current and prefetched layer
    activations = act_per_token_fp32 / 2 * tokens * batch_per_gpu  # bf16 activations, no checkpointing
    return {
        "gpus": gpus,
        "batch_per_gpu": batch_per_gpu,
        "tokens_per_sample": tokens,
        "sharded_states_GB": sharded / GB,
        "gathered_bf16_params_GB": gathered / GB,
        "activations_GB": activations / GB,
        "total_GB": (sharded + gathered + activations) / GB,
        "formula": "(4·total + 4·trainable + 8·trainable)/gpus + 2·(root unit + 2 layers) + activations/2 "
                   "(bf16) × tokens × batch",
    }


def measure_gpu(model, args) -> dict:
    """A real bf16 step (forward + backward + AdamW) on the GPU, T2M stage, batch ``--gpu-batch``."""
    import torch

    from unimotion.models.unimotion.model import collate_examples
    from unimotion.training.recipes.unimotion import select_trainable

    base_flags = {n: p.requires_grad for n, p in model.named_parameters()}
    select_trainable(model, ["all"], base_flags)
    model.to("cuda").train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-5)
    ex = example("t2m", math.ceil(args.frames / 4), model.config.latent_dim, args.seed)
    batch = collate_examples([ex] * args.gpu_batch)
    times = []
    torch.cuda.reset_peak_memory_stats()
    for r in range(args.repeats + 2):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = model.training_step(batch, 0)
        out["loss"].float().backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        torch.cuda.synchronize()
        if r >= 2:
            times.append(time.perf_counter() - t0)
    return {"device": torch.cuda.get_device_name(0), "precision": "bf16 autocast", "batch": args.gpu_batch,
            "step_s": statistics.median(times), "peak_memory_GB": torch.cuda.max_memory_allocated() / GB,
            "status": "measured"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "paper_size"), help="output stem")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--frames", type=int, default=196, help="motion length of the example (T_z = ⌈frames/4⌉)")
    parser.add_argument("--batch", type=int, default=1, help="CPU batch")
    parser.add_argument("--latent-dim", type=int, default=256)
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    parser.add_argument("--gpus", type=int, default=8, help="FSDP2 projection: GPUs")
    parser.add_argument("--gpu-batch-projection", type=int, default=16, help="FSDP2 projection: samples per GPU")
    parser.add_argument("--device", choices=["cpu", "cuda", "auto"], default="auto",
                        help="also measure a bf16 GPU step (auto: when CUDA is available)")
    parser.add_argument("--gpu-batch", type=int, default=16)
    parser.add_argument("--recipe", default=str(REPO / "configs" / "unimotion" / "humanml3d.yaml"),
                        help="the recipe whose stages get wall-time estimates")
    parser.add_argument("--vae-recipe", default=str(REPO / "configs" / "vae" / "cma_vae_humanml3d.yaml"))
    parser.add_argument("--gpu-peak-tflops", type=float, default=989.0,
                        help="estimates without a GPU: dense bf16 peak per GPU (H100 SXM: 989)")
    parser.add_argument("--assumed-mfu", type=float, default=0.10,
                        help="estimates without a GPU: fraction of the peak reached (small sequences: low)")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer stand-in (tests)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import torch

    sys.path.insert(0, str(REPO / "src"))
    from unimotion.evaluation.reports import markdown_table, results_meta, write_results
    from unimotion.models.unimotion.routed_lora import parameter_report

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()[0]
    monitor = PeakRSS()
    t0 = time.perf_counter()
    model = build_model(args)
    build_s = time.perf_counter() - t0
    after_build = monitor.current()
    hf = model.backbone.config
    comp = component_counts(model)
    rep = parameter_report(model)
    base_flags = {n: p.requires_grad for n, p in model.named_parameters()}
    rows = [measure_stage(model, s, args, base_flags) for s in args.stages]
    total = int(rep["total"])
    for row in rows:
        row["total"] = total
        row["AdamW state GB (computed)"] = row["trainable"] * 8 / GB  # moments for whole trainable tensors
    vae_row = measure_vae(args) if not args.tiny else None
    layers = int(hf.num_hidden_layers)
    t2m = next((r for r in rows if r["stage"] != "lra"), rows[-1])
    projection = fsdp_projection(total, {r["stage"]: r["trainable"] for r in rows}, comp, layers,
                                 t2m["_act_bytes_per_token"], args.gpus, args.gpu_batch_projection, t2m["tokens"])
    want_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    if want_gpu and torch.cuda.is_available():
        gpu = measure_gpu(model, args)
    elif want_gpu:
        gpu = {"status": "not measured: --device cuda but CUDA is not available"}
    else:
        gpu = {"status": "not measured: no GPU lent"}
    for row in rows:
        for k in [k for k in row if k.startswith("_")]:
            row.pop(k)
    if vae_row is not None:
        rows.insert(0, vae_row)
    wall = wall_time_estimates(rows, args, gpu)
    meta = results_meta(
        budget={"threads": args.threads, "repeats": args.repeats, "batch": args.batch, "frames": args.frames},
        backbone={"architecture": "Qwen2.5-1.5B (preset qwen2.5-1.5b, random weights)" if not args.tiny else
                  "tiny stand-in", "hidden_size": int(hf.hidden_size), "layers": layers,
                  "heads": int(hf.num_attention_heads), "kv_heads": int(hf.num_key_value_heads),
                  "intermediate_size": int(hf.intermediate_size), "vocab_rows": int(hf.vocab_size)},
        parameters={"total": total, "lora": int(rep["lora"]), "lora_fraction_of_backbone": rep["lora_fraction"],
                    "by_component": comp},
        build_seconds=build_s,
        load_average_1min={"start": load_before, "end": os.getloadavg()[0], "cpu_cores": os.cpu_count()},
        rss_after_build_GB=after_build / GB,
        float32_weights_GB=total * 4 / GB,
        fsdp_projection=projection,
        gpu=gpu,
        wall_time=wall,
        wall_time_assumptions={"gpus": args.gpus, "gpu_peak_tflops": args.gpu_peak_tflops,
                               "assumed_mfu": args.assumed_mfu, "recipe": os.path.relpath(args.recipe, REPO),
                               "vae_recipe": os.path.relpath(args.vae_recipe, REPO)},
        tiny=args.tiny,
    )
    columns = ["stage", "task of the example", "total", "trainable", "updated", "AdamW state GB (computed)",
               "paper steps", "tokens", "batch", "TFLOP per sample", "cpu fwd+bwd s", "cpu peak RSS GB",
               "cpu step working set GB"]
    p = projection
    notes = (
        f"Backbone: hidden {hf.hidden_size}, {layers} layers, {hf.num_attention_heads} heads "
        f"({hf.num_key_value_heads} KV), FFN {hf.intermediate_size}, {hf.vocab_size} vocabulary rows; "
        f"{total:,} parameters in all ({total * 4 / GB:.2f} GB in float32), routed LoRA {int(rep['lora']):,} "
        f"({100 * rep['lora_fraction']:.2f} % of the backbone). Built in {build_s:.0f} s; resident memory after "
        f"building {after_build / GB:.2f} GB. CPU times: {args.threads} thread(s) on a machine with "
        f"{os.cpu_count()} cores and a 1-minute load average of {load_before:.1f} at the start "
        f"(other jobs shared it: the times are upper bounds).\n\n"
        "`trainable` counts the tensors with `requires_grad`; `updated` leaves out the entries whose gradient is "
        "fixed at 0 (pretrained embedding rows under `embeddings: new_tokens`; the text LoRA branch in Stage 0). "
        "The CPU step is forward + backward at the given batch (no optimizer step; its AdamW state — two float32 "
        "moments for every element of a trainable tensor, frozen rows included — is computed). "
        "`cpu peak RSS` is the whole process (model included) during the step.\n\n"
        f"**Projected memory per GPU, FSDP2 on {p['gpus']} GPUs** (bf16 mixed precision, {p['batch_per_gpu']} "
        f"samples of {p['tokens_per_sample']} tokens per GPU, no activation checkpointing): sharded float32 "
        f"parameters + gradients + AdamW {p['sharded_states_GB']:.2f} GB, gathered bf16 units "
        f"{p['gathered_bf16_params_GB']:.2f} GB, activations {p['activations_GB']:.2f} GB (scaled from the CPU "
        f"step) → **{p['total_GB']:.1f} GB** (a projection, not a measurement).\n\n"
        f"**GPU step:** " + (f"{gpu['step_s']:.3f} s per bf16 step at batch {gpu['batch']} on {gpu['device']}, "
                             f"peak {gpu['peak_memory_GB']:.1f} GB" if gpu.get("status") == "measured"
                             else gpu["status"]) + ".\n\n"
        f"**Expected wall time of the HumanML3D recipe on {args.gpus} GPUs** "
        f"(`{os.path.relpath(args.recipe, REPO)}`, `{os.path.relpath(args.vae_recipe, REPO)}`):\n\n"
        + markdown_table(wall, ["stage", "steps", "examples per step", "step s", "hours", "source"])
        + "\nThese hours are estimates, not measurements: the FLOPs of a step (counted on the CPU) at an assumed "
          f"{args.assumed_mfu:.0%} of the GPUs' peak. They leave out fixed per-step costs (kernel launches, "
          "FSDP2 communication, data loading), which dominate small models — the VAE's row is far too "
          "optimistic — so read them as lower bounds. Run this script with `--device cuda` on the target GPU "
          "to replace the UniMotion rows by a measured step."
    )
    title = "Paper-size UniMotion (Qwen2.5-1.5B architecture): parameters, memory, step time"
    json_path, md_path = write_results(args.out, rows, meta, title, columns=columns, notes=notes)
    print(markdown_table(rows, columns))
    print(notes)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
