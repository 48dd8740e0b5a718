"""UniMotion on BandaiML: T2M, M2T, motion prediction, motion editing and the LRA shuffled-condition control.

    python benchmarks/unimotion_eval.py                      # → docs/results/unimotion_bandaiml.{json,md}

Every motion and caption is generated here through the shipped pipeline
(:class:`~unimotion.pipelines.unimotion.UniMotionPipeline`, ``--checkpoint``) and scored with the BandaiML
retrieval evaluator by :mod:`unimotion.evaluation.tasks` (each task's Real row comes from there too).

**Reduced protocol** (the full one regenerates every test motion 20 times with 50 steps + CFG — too slow on
a 2-core CPU). What is done, per split (``test``, ``test_novel``):

* **T2M**: one generation per test motion (``--steps`` Euler steps, ``--cfg`` guidance — a run's values
  are printed above this list —, seed = its index), from one of its three captions (drawn with
  ``--seed``), at the ground-truth length (cut to a multiple of 4 frames). The
  evaluator's 20 replications reshuffle the R-precision pools of 32 (and redraw Diversity pairs) over that
  one set of generations — the Real row uses the same pools. The "VAE reconstruction (bound)" row scores
  the VAE's encode → decode of every test motion the same way: generated latents decode through the same
  VAE, so this row bounds what any generation can reach. MultiModality: the first ``--mm-motions``
  motions of the split, ``--mm-repeats`` generations each (different seeds), 10 pairs per caption.
* **M2T**: one greedy caption per motion (max 48 tokens); R@k/MM-Dist through the evaluator's text side
  (20 pool replications), BLEU@4, ROUGE-L, CIDEr and BERTScore (MiniLM, not comparable to published
  roberta-large scores) against the motion's three reference captions. The Real row scores each motion's
  first caption against the other two.
* **Prediction** (MotionGPT's protocol): the first ⌈0.2·T⌉ frames are observed, the continuation is
  generated to the ground-truth length; ADE/FDE (metres) on the predicted frames, FID/Diversity of the
  whole motions.
* **Editing**: pairs from :func:`unimotion.data.unimotion_tasks.build_edit_pairs` — ``style`` edits (same
  content, other style) and ``content`` edits (same style, other action); sources from the split itself on
  ``test`` and from ``train`` on ``test_novel`` (whose content/style combinations occur nowhere else).
  The edited motion has the target's length; ``--edit-limit`` keeps a seeded random subset of the pairs.
  Generated-to-target retrieval R@1/R@3 in pools of 32 (20 replications) and FID against the targets; the
  "source (no edit)" row is the unedited source.
* **LRA control** (spec §5.3; ``--lra-checkpoint``, the Stage-0 model): each test motion's latent is
  regenerated from noise conditioned on itself (clean, or degraded as in training) or on another motion
  (shuffled, degraded), decoded by the VAE; FID and MPJPE against the ground truth, next to the VAE's own
  reconstruction.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]

T2M_COLUMNS = ["split", "method", "n", "R@1", "R@2", "R@3", "FID", "MM-Dist", "Diversity", "MultiModality",
               "ceiling_R@3"]
M2T_COLUMNS = ["split", "method", "n", "R@1", "R@3", "MM-Dist", "BLEU@4", "ROUGE-L", "CIDEr", "BERTScore-F1"]
PRED_COLUMNS = ["split", "method", "n", "ADE", "FDE", "FID", "Diversity"]
EDIT_COLUMNS = ["split", "kind", "method", "n", "R@1", "R@3", "FID"]
LRA_COLUMNS = ["split", "method", "n", "FID", "MPJPE_mm", "APE_joints_cm"]
VAE_BOUND = "VAE reconstruction (bound)"


# ============================================================================================ generation
def _batches(n: int, size: int):
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def crop(n: int, unit: int) -> int:
    from unimotion.evaluation.tasks import crop_length

    return crop_length(n, unit)


def generate_t2m(pipe, data, cfg, args, log) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """One motion per record (plus ``<id>_rep<k>`` MultiModality repeats for the first mm-motions)."""
    rng = np.random.default_rng(args.seed)
    ids = data.ids
    caps = {r.name: r.captions[int(rng.integers(len(r.captions)))].text for r in data.records}
    lengths = {r.name: crop(r.length, cfg.unit_length) for r in data.records}
    jobs = [(i, i, k) for k, i in enumerate(ids)]  # (output name, id, seed)
    if args.mm_repeats > 0:
        for i in ids[: args.mm_motions]:
            jobs += [(f"{i}_rep{k}", i, 100_000 + 1000 * ids.index(i) + k) for k in range(args.mm_repeats)]
    out: dict[str, np.ndarray] = {}
    jobs.sort(key=lambda j: lengths[j[1]])
    for sl in _batches(len(jobs), args.batch):
        chunk = jobs[sl]
        res = pipe.text_to_motion([caps[j[1]] for j in chunk], frames=[lengths[j[1]] for j in chunk],
                                  seed=[j[2] for j in chunk], num_steps=args.steps, cfg_scale=args.cfg)
        for j, r in zip(chunk, res, strict=True):
            out[j[0]] = r.features
        log(f"  t2m {data.split}: {len(out)}/{len(jobs)}")
    return out, caps


def generate_m2t(pipe, data, cfg, args, log) -> dict[str, str]:
    out: dict[str, str] = {}
    recs = sorted(data.records, key=lambda r: r.length)
    for sl in _batches(len(recs), args.batch):
        chunk = recs[sl]
        feats = [r.motion[: crop(r.length, cfg.unit_length)] for r in chunk]
        for r, t in zip(chunk, pipe.motion_to_text(feats), strict=True):
            out[r.name] = t if t.strip() else "(empty)"
        log(f"  m2t {data.split}: {len(out)}/{len(recs)}")
    return out


def generate_prediction(pipe, data, cfg, args, log) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    recs = sorted(data.records, key=lambda r: r.length)
    for sl in _batches(len(recs), args.batch):
        chunk = recs[sl]
        obs, cont = [], []
        for r in chunk:
            t = crop(r.length, cfg.unit_length)
            p = math.ceil(cfg.prefix_ratio * t)
            obs.append(r.motion[:p])
            cont.append(t - p)
        seeds = [data.ids.index(r.name) for r in chunk]
        for r, res in zip(chunk, pipe.predict(obs, frames=cont, seed=seeds, num_steps=args.steps,
                                              cfg_scale=args.cfg), strict=True):
            out[r.name] = res.features
        log(f"  prediction {data.split}: {len(out)}/{len(recs)}")
    return out


def generate_edits(pipe, pairs, by_id, cfg, args, log) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    order = sorted(range(len(pairs)), key=lambda k: by_id[pairs[k].target].length)
    for sl in _batches(len(order), args.batch):
        chunk = [pairs[k] for k in order[sl]]
        srcs = [by_id[p.source].motion[: crop(by_id[p.source].length, cfg.unit_length)] for p in chunk]
        frames = [crop(by_id[p.target].length, cfg.unit_length) for p in chunk]
        res = pipe.edit(srcs, [p.instruction for p in chunk], frames=frames, seed=[k for k in order[sl]],
                        num_steps=args.steps, cfg_scale=args.cfg)
        for p, r in zip(chunk, res, strict=True):
            out[p.name] = r.features
        log(f"  editing: {len(out)}/{len(pairs)}")
    return out


def lra_predictions(pipe, lra_model, data, cfg, args, mode: str) -> dict[str, np.ndarray]:
    """Stage-0 regeneration of each motion's latent: mode = matched | matched_degraded | shuffled_degraded
    | vae (the VAE's own reconstruction; ``lra_model`` is not used then)."""
    import torch

    out: dict[str, np.ndarray] = {}
    recs = list(data.records)
    feats = [r.motion[: crop(r.length, cfg.unit_length)] for r in recs]
    lat = pipe.encode(feats)  # standardised with the pipeline model's latent statistics
    frames = [len(f) for f in feats]
    if mode == "vae":
        z, mask = _pad(lat)
        dec, _ = pipe.decode(z, mask, frames)
        return {r.name: d for r, d in zip(recs, dec, strict=True)}
    stats_pipe, stats_lra = pipe.model.stats, lra_model.stats
    lat_lra = [stats_lra.normalize(stats_pipe.denormalize(z)) for z in lat]  # into the LRA model's space
    with torch.no_grad():
        # shuffled pairs are drawn across the whole split (a derangement), not inside one batch
        conds = lat_lra
        if mode == "shuffled_degraded":
            from unimotion.models.unimotion.lra import shuffle_conditions

            conds = shuffle_conditions(lat_lra)
        g = torch.Generator().manual_seed(args.seed)
        res = []
        for sl in _batches(len(recs), args.batch):
            from unimotion.models.unimotion.lra import degrade_condition
            from unimotion.models.unimotion.model import UniMotionModel  # noqa: F401
            from unimotion.models.unimotion.sampling import sample_lra

            cs = conds[sl]
            if mode != "matched":
                cs = [degrade_condition(c.float(), lra_model.config.lra, g) for c in cs]
            # sample_lra regenerates len(latent) steps conditioned on the given latents
            s = sample_lra(lra_model, cs, num_steps=args.steps, degrade=False, shuffle=False, generator=g)
            res += [z for z in s.unpad()]
        zz = [stats_pipe.normalize(stats_lra.denormalize(z)) for z in res]
        z, mask = _pad(zz)
        dec, _ = pipe.decode(z, mask, frames)
    for r, d in zip(recs, dec, strict=True):
        out[r.name] = d
    return out


def _pad(latents):
    import torch

    T = max(z.shape[0] for z in latents)
    z = torch.zeros(len(latents), T, latents[0].shape[1])
    m = torch.zeros(len(latents), T, dtype=torch.bool)
    for i, x in enumerate(latents):
        z[i, : len(x)] = x
        m[i, : len(x)] = True
    return z, m


# ============================================================================================ main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", default=str(REPO / "checkpoints" / "unimotion_bandaiml"))
    p.add_argument("--evaluator", default=None, help="evaluator checkpoint (default checkpoints/evaluator_bandaiml)")
    p.add_argument("--data", default=str(REPO.parent / "data" / "bandaiml"))
    p.add_argument("--feature-dir", default="new_joint_vecs_269")
    p.add_argument("--splits", nargs="+", default=["test", "test_novel"])
    p.add_argument("--source-split", default="train", help="edit sources for splits without pairs of their own")
    p.add_argument("--tasks", nargs="+", default=["t2m", "m2t", "prediction", "editing", "lra"])
    p.add_argument("--edit-kinds", nargs="+", default=["style", "content"])
    p.add_argument("--edit-limit", type=int, default=None,
                   help="at most this many edit pairs per kind and split (a seeded random subset; CPU budget)")
    p.add_argument("--lra-checkpoint", default=None, help="Stage-0 (LRA) model folder for the control")
    p.add_argument("--run-dir", default=None, help="training run folder (its train_summary.json files give the budget)")
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--cfg", type=float, default=3.0)
    p.add_argument("--cfg-sweep", type=float, nargs="+", default=None,
                   help="T2M only, once per guidance weight (choose the weight on val), MultiModality off")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--mm-motions", type=int, default=32)
    p.add_argument("--mm-repeats", type=int, default=12)
    p.add_argument("--replications", type=int, default=20)
    p.add_argument("--pool", type=int, default=32, help="R-precision pool (32 = the protocol)")
    p.add_argument("--diversity-pairs", type=int, default=150)
    p.add_argument("--captioning", nargs="+", default=["bleu", "rouge", "cider", "bertscore"])
    p.add_argument("--limit", type=int, default=None, help="first N motions per split (smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(REPO / "docs" / "results" / "unimotion_bandaiml"))
    p.add_argument("--title", default="UniMotion on BandaiML (demo checkpoint)")
    return p.parse_args(argv)


def budget_from_runs(run_dir: str | None, pipe) -> dict[str, Any]:
    out: dict[str, Any] = {}
    info = pipe.config.info or {}
    if info.get("stage_steps"):
        out["stage_steps"] = info["stage_steps"]
    if run_dir:
        for stage in info.get("stages", ["lra", "t2m", "multitask"]):
            f = Path(run_dir) / stage / "train_summary.json"
            if f.is_file():
                s = json.loads(f.read_text(encoding="utf-8"))
                out[stage] = {"steps": s.get("steps"), "batch": s.get("batch_size_per_process"),
                              "wall_s": s.get("wall_seconds_this_run"), "device": s.get("device"),
                              "trainable_parameters": s.get("trainable_parameters"),
                              "tasks": (s.get("config", {}).get("stages", {}).get(stage, {}) or {}).get("tasks")}
    return out


def main(argv: list[str] | None = None, evaluator: Any = None) -> int:
    """Run the benchmark (``argv`` as on the command line). ``evaluator``: an evaluator object instead of
    ``--evaluator`` (tests)."""
    import torch

    from unimotion.data.unimotion_tasks import build_edit_pairs
    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.reports import markdown_table, results_meta, write_results
    from unimotion.pipelines.unimotion import UniMotionPipeline

    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    started = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - started:7.1f}s] {msg}", flush=True)

    pipe = UniMotionPipeline.from_pretrained(args.checkpoint)
    if evaluator is None:
        evaluator = T.load_evaluator(args.evaluator)
    cfg = T.EvalConfig(batch_size=args.pool, replications=args.replications, seed=args.seed,
                       diversity_pairs=args.diversity_pairs, captioning=tuple(args.captioning),
                       allow_nonstandard_batch_size=args.pool != 32)
    lra_model = None
    if "lra" in args.tasks and args.lra_checkpoint:
        from unimotion.models.unimotion.model import UniMotionModel

        lra_model = UniMotionModel.from_pretrained(args.lra_checkpoint)
    rows: list[dict[str, Any]] = []
    timings: dict[str, float] = {}
    source_data = None
    if args.cfg_sweep:
        return cfg_sweep(args, pipe, evaluator, cfg, log, started, argv if argv is not None else sys.argv[1:])
    for split in args.splits:
        data = T.load_split(args.data, split, feature_dir=args.feature_dir)
        if args.limit:
            data.records = data.records[: args.limit]
        log(f"{split}: {len(data.records)} motions")
        if "t2m" in args.tasks:
            t0 = time.time()
            preds, caps = generate_t2m(pipe, data, cfg, args, log)
            timings[f"t2m/{split}"] = time.time() - t0
            rows += [{"task": "t2m", **r} for r in T.evaluate_t2m(evaluator, data, preds, cfg, "UniMotion", caps)]
            # the VAE's own reconstruction of every test motion, scored like a generation: no latent the
            # model generates can decode to better motion than this (the bound the VAE sets)
            recon = lra_predictions(pipe, None, data, cfg, args, "vae")
            rows += [{"task": "t2m", **r} for r in T.evaluate_t2m(evaluator, data, recon, cfg, VAE_BOUND)[1:]]
        if "m2t" in args.tasks:
            t0 = time.time()
            caps_pred = generate_m2t(pipe, data, cfg, args, log)
            timings[f"m2t/{split}"] = time.time() - t0
            rows += [{"task": "m2t", **r} for r in T.evaluate_m2t(evaluator, data, caps_pred, cfg, "UniMotion")]
            examples = [{"id": i, "caption": caps_pred[i], "reference": data.records[k].captions[0].text}
                        for k, i in enumerate(data.ids[:5])]
            rows.append({"task": "m2t_examples", "split": split, "examples": examples})
        if "prediction" in args.tasks:
            t0 = time.time()
            preds = generate_prediction(pipe, data, cfg, args, log)
            timings[f"prediction/{split}"] = time.time() - t0
            rows += [{"task": "prediction", **r} for r in T.evaluate_prediction(evaluator, data, preds, cfg, "UniMotion")]
        if "editing" in args.tasks:
            ids = data.ids
            for kind in args.edit_kinds:
                pairs = build_edit_pairs(ids, None, [kind], seed=args.seed)
                pool_name = split
                extra = []
                if len(pairs) < cfg.batch_size:
                    if source_data is None:
                        source_data = T.load_split(args.data, args.source_split, feature_dir=args.feature_dir)
                    pairs = build_edit_pairs(ids, source_data.ids, [kind], seed=args.seed)
                    pool_name = args.source_split
                    need = {p.source for p in pairs}
                    extra = [r for r in source_data.records if r.name in need]
                if args.edit_limit and len(pairs) > args.edit_limit:
                    keep = np.random.default_rng(args.seed).choice(len(pairs), args.edit_limit, replace=False)
                    pairs = [pairs[k] for k in sorted(keep.tolist())]
                    need = {p.source for p in pairs}
                    extra = [r for r in extra if r.name in need]
                if len(pairs) < cfg.batch_size:
                    log(f"  editing/{kind} on {split}: only {len(pairs)} pairs (< pool {cfg.batch_size}) — skipped")
                    rows.append({"task": "editing", "split": split, "kind": kind, "method": "skipped",
                                 "n": len(pairs)})
                    continue
                both = T.SplitData(data.root, split, list(data.records) + extra)
                by_id = {r.name: r for r in both.records}
                t0 = time.time()
                preds = generate_edits(pipe, pairs, by_id, cfg, args, log)
                timings[f"editing/{kind}/{split}"] = time.time() - t0
                edits = [T.EditPair(p.name, p.source, p.target, p.instruction) for p in pairs]
                for r in T.evaluate_edit(evaluator, both, edits, preds, cfg, "UniMotion"):
                    rows.append({"task": "editing", "kind": kind, "source_pool": pool_name, **r})
                rows.append({"task": "edit_examples", "split": split, "kind": kind,
                             "examples": [p.as_json() for p in pairs[:5]]})
        if "lra" in args.tasks and lra_model is not None:
            t0 = time.time()
            names = {"vae": "VAE reconstruction", "matched": "LRA, matched condition (clean)",
                     "matched_degraded": "LRA, matched condition (degraded)",
                     "shuffled_degraded": "LRA, shuffled condition (degraded)"}
            real_done = False
            for mode, label in names.items():
                preds = lra_predictions(pipe, lra_model, data, cfg, args, mode)
                got = T.evaluate_recon(evaluator, data, preds, cfg, label)
                for r in got if not real_done else got[1:]:
                    rows.append({"task": "lra", **r})
                real_done = True
                log(f"  lra {split}: {label}")
            timings[f"lra/{split}"] = time.time() - t0

    budget = budget_from_runs(args.run_dir, pipe)
    protocol = {
        "t2m": f"1 generation per motion (seed = index, caption drawn with seed {args.seed}), GT length; "
               f"{args.replications} pool replications; MultiModality on the first {args.mm_motions} motions "
               f"× {args.mm_repeats} generations",
        "sampling": f"Euler {args.steps} steps, CFG {args.cfg}",
        "pool": args.pool, "diversity_pairs": args.diversity_pairs, "limit": args.limit,
        "edit_kinds": args.edit_kinds, "edit_limit": args.edit_limit, "captioning": args.captioning,
        "replications": args.replications,
    }
    command = "python benchmarks/unimotion_eval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = results_meta(budget=budget, command=command.strip(), checkpoint=str(args.checkpoint),
                        lra_checkpoint=args.lra_checkpoint, protocol=protocol,
                        timings_s={k: round(v, 1) for k, v in timings.items()},
                        wall_s=round(time.time() - started, 1))
    notes = render_notes(rows, markdown_table, protocol_summary(args))
    main_rows = [r for r in rows if r.get("task") == "t2m"]
    write_results(args.out, rows, meta, title=args.title, columns=T2M_COLUMNS, notes=notes)
    # write_results renders the first table from `columns` over every row: re-render with the T2M rows only
    from unimotion.evaluation.reports import render_markdown
    from unimotion.utils.io import write_text

    payload = {"meta": {**meta, "columns": T2M_COLUMNS}, "rows": main_rows}
    text = render_markdown(payload, args.title, notes)
    text = text.replace("\n| split |", "\n## Text → motion\n\n| split |", 1)
    write_text(Path(args.out).with_suffix(".md"), text)
    log(f"wrote {args.out}.json and .md")
    return 0


def cfg_sweep(args, pipe, evaluator, cfg, log, started, argv: list[str]) -> int:
    """T2M rows for every guidance weight of ``--cfg-sweep`` (one generation per motion, no MultiModality)."""
    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.reports import results_meta, write_results

    rows: list[dict[str, Any]] = []
    args.mm_repeats = 0
    for split in args.splits:
        data = T.load_split(args.data, split, feature_dir=args.feature_dir)
        if args.limit:
            data.records = data.records[: args.limit]
        for k, w in enumerate(args.cfg_sweep):
            args.cfg = float(w)
            preds, caps = generate_t2m(pipe, data, cfg, args, log)
            got = T.evaluate_t2m(evaluator, data, preds, cfg, f"UniMotion, CFG {w:g}", caps)
            rows += [{"task": "t2m", "cfg": None if r["method"] == "Real" else float(w), **r}
                     for r in (got if k == 0 else got[1:])]
            log(f"  cfg {w:g} on {split}: done")
    command = "python benchmarks/unimotion_eval.py " + " ".join(argv)
    meta = results_meta(command=command.strip(), checkpoint=str(args.checkpoint),
                        protocol={"sampling": f"Euler {args.steps} steps", "pool": args.pool,
                                  "replications": args.replications, "limit": args.limit},
                        wall_s=round(time.time() - started, 1))
    cols = ["split", "method", "cfg", "n", "R@1", "R@3", "FID", "MM-Dist", "Diversity"]
    write_results(args.out, rows, meta, title=args.title, columns=cols,
                  notes="One generation per motion at its ground-truth length (seed = its index), for each "
                        "guidance weight; the Real row is the ground truth scored the same way.")
    log(f"wrote {args.out}.json and .md")
    return 0


def protocol_summary(args: argparse.Namespace) -> str:
    """The settings this run actually used (printed above the protocol description)."""
    mm = (f"MultiModality on the first {args.mm_motions} motions × {args.mm_repeats} generations"
          if args.mm_repeats > 0 else "MultiModality not computed")
    edits = f"at most {args.edit_limit} seeded-random pairs per kind and split" if args.edit_limit else "all pairs"
    limit = f"first {args.limit} motions per split" if args.limit else "every motion of the split"
    return (f"**This run:** Euler {args.steps} steps, CFG {args.cfg:g}, one generation per motion ({limit}); "
            f"{args.replications} pool replications (pool {args.pool}); {mm}; editing: {edits} "
            f"({', '.join(args.edit_kinds)}); Diversity over {args.diversity_pairs} pairs; captioning metrics: "
            f"{', '.join(args.captioning)}.")


def render_notes(rows: list[dict[str, Any]], markdown_table, summary: str = "") -> str:
    """The other tasks' tables and the protocol notes (rendered from the same rows)."""
    parts = []
    sections = [("m2t", "Motion → text", M2T_COLUMNS), ("prediction", "Motion prediction", PRED_COLUMNS),
                ("editing", "Motion editing (generated-to-target retrieval)", EDIT_COLUMNS),
                ("lra", "LRA shuffled-condition control (Stage-0 model)", LRA_COLUMNS)]
    for task, title, cols in sections:
        sel = [r for r in rows if r.get("task") == task]
        if sel:
            parts.append(f"## {title}\n\n" + markdown_table(sel, cols))
    ex = [r for r in rows if r.get("task") == "m2t_examples"]
    if ex:
        lines = ["## Caption examples\n", "| split | id | generated | a reference |", "|---|---|---|---|"]
        for r in ex:
            for e in r["examples"]:
                lines.append(f"| {r['split']} | {e['id']} | {e['caption']} | {e['reference']} |")
        parts.append("\n".join(lines) + "\n")
    parts.append("## Protocol\n\n" + (summary + "\n\n" if summary else "") + "**Reduced protocol**"
                 + __doc__.split("**Reduced protocol**", 1)[1].rstrip())
    return "\n".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
