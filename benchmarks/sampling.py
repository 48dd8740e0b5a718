"""Speed of UniMotion motion sampling: prefix KV cache + batched CFG vs naive full recomputation.

Both paths run the *same* model with the *same* initial noise (Euler, 50 steps, CFG 3.0 by default) on a
196-frame motion (T_z = ⌈196/4⌉ = 49 latent tokens, the CMA-VAE default compression):

* ``naive``      — every Euler step rebuilds and runs the whole sequence (prompt, motion span, closing tokens)
                   through embedder, backbone and flow head, once for the conditional and once for the
                   unconditional branch;
* ``fast``       — the library default: the prompt prefix is encoded once and its KV cache reused, the
                   conditional and unconditional rows run as one batch, and each step runs only what depends on
                   z_t: with ``target_input="placeholder"`` (the demo checkpoint's setting) that is the flow head
                   alone — the target span goes through the backbone once; with ``"noisy_latent"`` (Show-o2 style)
                   it is the target span through embedder, backbone and head;
* ``cache only`` / ``batch only`` — one of the two optimisations (ablation).

Scenarios: ``t2m`` (the headline: the architecture of ``--model-config``, by default the demo checkpoint's
recipe), ``t2m-noisy-input`` (the same with ``target_input="noisy_latent"``), ``editing`` (196-frame source +
instruction), ``t2m-deep`` (16-layer backbone) and ``lra`` (LRA regeneration, no CFG).

It checks that the outputs agree (``max_abs_diff``, must be ≤ 1e-4), prints a table and writes
``docs/results/sampling.json`` + ``.md`` (keys ``speedup`` and ``max_abs_diff`` per row and, for the headline
T2M row, in ``meta`` together with the per-call latencies of a 196-frame motion).

    python benchmarks/sampling.py                                  # all scenarios, 3 repeats, 1 thread
    python benchmarks/sampling.py --scenarios t2m --repeats 1 --steps 10 --out /tmp/sampling

The model has the architecture of ``--model-config`` (its ``model:`` section; latent width ``--latent-dim``, the
CMA-VAE's 32 by default) with untrained weights and the built-in BPE tokenizer; its zero-initialised layers (LoRA
B, flow-head gates and output) are re-drawn from N(0, 0.02²) with a fixed seed so that every part of the network
influences the result (a zero-initialised head would make both paths trivially equal). Speed does not depend on
the weights. Timings are medians of interleaved repeats on one CPU thread (stable on a shared machine); the
speed-up is the median of the per-repeat naive/fast ratios.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]

CAPTION = "a person walks forward slowly, then turns around and jogs back to where they started."
INSTRUCTION = "raise the left arm higher and walk a little faster."
MODES = {
    "naive": dict(use_cache=False, batch_cfg=False),
    "fast": dict(use_cache=True, batch_cfg=True),
    "cache only": dict(use_cache=True, batch_cfg=False),
    "batch only": dict(use_cache=False, batch_cfg=True),
}
SCENARIOS = {
    # name: (task, target_input (None = the model config's), backbone layers (None = the config's), description)
    "t2m": ("t2m", None, None, "text-to-motion, HumanML3D-length caption"),
    "t2m-noisy-input": ("t2m", "noisy_latent", None, "text-to-motion, z_t through the backbone (Show-o2 style)"),
    "editing": ("editing", None, None, "editing: 196-frame source motion + instruction"),
    "t2m-deep": ("t2m", None, 16, "text-to-motion, 16-layer backbone"),
    "lra": ("m2m", None, None, "LRA regeneration (z_t reaches only the head: backbone once vs every step; no CFG)"),
}
DEFAULT_SCENARIOS = ["t2m", "t2m-noisy-input", "editing", "t2m-deep", "lra"]


def build_model(args, target_input: str | None, layers: int | None):
    """The ``model:`` section of ``args.model_config`` with random weights (zero-init parts re-drawn)."""
    import torch

    from unimotion.config import from_dict, load_yaml
    from unimotion.models.unimotion import UniMotionConfig, UniMotionModel

    data = dict(load_yaml(args.model_config).get("model", {}))
    data["latent_dim"] = args.latent_dim
    data.setdefault("max_latent_len", 64)
    if target_input is not None:
        data["target_input"] = target_input
    if layers is not None:
        backbone = dict(data.get("backbone", {}))
        backbone["overrides"] = {**backbone.get("overrides", {}), "num_hidden_layers": layers}
        data["backbone"] = backbone
    torch.manual_seed(args.seed)
    model = UniMotionModel(from_dict(UniMotionConfig, data, where="model")).eval()
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name or (name.startswith("flow_head.") and bool(p.abs().sum() == 0)):
                p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    return model


def request(task: str, latent_len: int, latent_dim: int, seed: int):
    import torch

    from unimotion.models.unimotion import TaskExample

    if task == "t2m":
        return TaskExample("t2m", caption=CAPTION, target_length=latent_len)
    g = torch.Generator().manual_seed(seed + 1)
    src = torch.randn(latent_len, latent_dim, generator=g)
    return TaskExample("editing", source=src, instruction=INSTRUCTION, target_length=latent_len)


def run_scenario(name: str, args) -> dict:
    import torch

    task, target_input, layers, desc = SCENARIOS[name]
    model = build_model(args, target_input, layers)
    latent_len = math.ceil(args.frames / args.downsample)
    d = model.config.latent_dim
    if task == "m2m":
        z = [torch.randn(latent_len, d, generator=torch.Generator().manual_seed(args.seed + 2))]
        kw = dict(num_steps=args.steps, seed=args.seed)
        modes = {"naive": dict(use_cache=False), "fast": dict(use_cache=True)}

        def call(mode):
            return model.reconstruct(z, **kw, **modes[mode])

        full = model.builder.build([request_m2m(z[0])], with_answer=True)
        span_tokens = latent_len  # the head's work per step (the backbone runs once)
        prefix = full.input_ids.shape[1]
        cfg_scale = 1.0
    else:
        ex = [request(task, latent_len, d, args.seed)]
        kw = dict(num_steps=args.steps, cfg_scale=args.cfg, seed=args.seed)
        ablate = args.ablation and not name.endswith("deep")
        modes = {m: MODES[m] for m in (MODES if ablate else ("naive", "fast"))}

        def call(mode):
            return model.sample_motion(ex, **kw, **modes[mode])

        full = model.builder.build(ex, with_answer=True)
        aligned = model.builder.build(ex, with_answer=False, align="target")
        prefix = [s for s in aligned.spans if s.role == 1][0].start
        span_tokens = aligned.input_ids.shape[1] - prefix
        cfg_scale = args.cfg
    outs = {m: call(m) for m in modes}  # warm-up, and the outputs to compare
    diff = max(float((outs[m].latents - outs["fast"].latents).abs().max()) for m in modes)
    times: dict[str, list[float]] = {m: [] for m in modes}
    for _ in range(args.repeats):  # interleaved, so machine load affects all modes alike
        for m in modes:
            t0 = time.perf_counter()
            call(m)
            times[m].append(time.perf_counter() - t0)
    ms = {m: 1000 * statistics.median(v) for m, v in times.items()}
    # speed-up: median over repeats of naive/fast measured back to back (robust to load changes between repeats)
    paired = statistics.median(n / f for n, f in zip(times["naive"], times["fast"], strict=True))
    row = {
        "scenario": name,
        "description": desc,
        "frames": args.frames,
        "latent_tokens": latent_len,
        "prefix_tokens": prefix,
        "span_tokens": span_tokens,
        "full_sequence_tokens": full.input_ids.shape[1],
        "backbone_layers": model.backbone.config.num_hidden_layers,
        "target_input": model.config.target_input if task != "m2m" else "—",
        "parameters": model.parameter_report()["total"],
        "steps": args.steps,
        "cfg_scale": cfg_scale,
        "naive_ms": ms["naive"],
        "fast_ms": ms["fast"],
        "cache_only_ms": ms.get("cache only"),
        "batch_only_ms": ms.get("batch only"),
        "speedup": paired,
        "max_abs_diff": diff,
        "token_ratio": None if task == "m2m" else full.input_ids.shape[1] / span_tokens,
    }
    return row


def request_m2m(z):
    from unimotion.models.unimotion import TaskExample

    return TaskExample("m2m", source=z)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scenarios", nargs="+", default=DEFAULT_SCENARIOS, choices=sorted(SCENARIOS))
    parser.add_argument("--model-config", default=str(REPO / "configs" / "unimotion" / "bandaiml.yaml"),
                        help="recipe YAML whose model: section gives the architecture (default: the demo checkpoint's)")
    parser.add_argument("--latent-dim", type=int, default=32, help="motion latent width d (the CMA-VAE's)")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--cfg", type=float, default=3.0)
    parser.add_argument("--frames", type=int, default=196)
    parser.add_argument("--downsample", type=int, default=4, help="VAE temporal compression (T_z = ceil(frames / it))")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-ablation", dest="ablation", action="store_false", help="skip cache-only / batch-only")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "sampling"))
    args = parser.parse_args(argv)

    import torch

    from unimotion.evaluation.reports import markdown_table, results_meta, write_results

    torch.set_num_threads(args.threads)
    rows = []
    for name in args.scenarios:
        t0 = time.perf_counter()
        rows.append(run_scenario(name, args))
        print(f"[sampling] {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    columns = ["scenario", "target_input", "prefix_tokens", "span_tokens", "full_sequence_tokens", "backbone_layers",
               "cfg_scale",
               "naive_ms", "fast_ms", "cache_only_ms", "batch_only_ms", "speedup", "token_ratio",
               "max_abs_diff"]
    head = rows[0]
    given = sys.argv[1:] if argv is None else list(argv)
    meta = results_meta(
        command=" ".join(["python", "benchmarks/sampling.py", *given]),
        budget={"repeats": args.repeats, "threads": args.threads,
                "timing": "median of interleaved repeats; speedup = median of paired naive/fast ratios"},
        steps=args.steps,
        cfg_scale=args.cfg,
        frames=args.frames,
        model_config=str(Path(args.model_config).resolve().relative_to(REPO)) if Path(args.model_config).resolve()
        .is_relative_to(REPO) else args.model_config,
        latent_dim=args.latent_dim,
        speedup=head["speedup"],
        max_abs_diff=max(r["max_abs_diff"] for r in rows),
        latency_ms_196_frames={"scenario": head["scenario"], "naive": head["naive_ms"], "fast": head["fast_ms"]},
    )
    notes = (
        "`naive`: full sequence recomputed at every Euler step, conditional and unconditional branches run "
        "separately. `fast`: prompt prefix encoded once (KV cache), both CFG branches in one batch, and each "
        "step runs only what depends on z_t — the flow head alone for `target_input = placeholder` (the target "
        "span goes through the backbone once; z_t reaches the head through AdaLN), the target span through "
        "embedder, backbone and head for `noisy_latent` (Show-o2 style). `cache_only` / `batch_only`: one "
        "optimisation each. Latencies are per "
        f"call ({args.steps} Euler steps, CFG {args.cfg}) for a {args.frames}-frame motion "
        f"(T_z = {math.ceil(args.frames / args.downsample)}); `*_ms` are medians, `speedup` is the median of "
        "naive/fast ratios measured back to back. `token_ratio` = full sequence / span tokens, the backbone work "
        "saved per step by the prefix cache alone, i.e. the bound of the `noisy_latent` design. The `lra` row is LRA regeneration, where z_t "
        "reaches only the flow head: its backbone pass is computed once per call instead of at every step. "
        "Untrained random weights; see `benchmarks/sampling.py` for the exact set-up."
    )
    json_path, md_path = write_results(args.out, rows, meta, "UniMotion sampling: KV-cached + batched CFG vs naive",
                                       columns=columns, notes=notes)
    print(markdown_table(rows, columns))
    print(f"speedup (headline {head['scenario']}): {head['speedup']:.2f}x; "
          f"max |fast - naive| over all rows: {meta['max_abs_diff']:.2e}")
    print(f"wrote {json_path} and {md_path}")
    if meta["max_abs_diff"] > 1e-4:
        print("ERROR: fast and naive sampling disagree by more than 1e-4", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
