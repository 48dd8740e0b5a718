"""UniMotion on BandaiML: T2M, M2T, motion prediction, motion editing and the LRA shuffled-condition control.

    python benchmarks/unimotion_eval.py                      # → docs/results/unimotion_bandaiml.{json,md}

Every motion and caption is generated here through the shipped pipeline
(:class:`~unimotion.pipelines.unimotion.UniMotionPipeline`, ``--checkpoint``) and scored with the BandaiML
retrieval evaluator by :mod:`unimotion.evaluation.tasks` (each task's Real row comes from there too).

**Reduced protocol** (the full one regenerates every test motion 20 times with 50 steps + CFG — too slow on
a 2-core CPU). What is done, per split (``test``, ``test_novel``):

* **Rounds**: T2M, prediction and editing are generated ``--rounds`` times (default 3) with new noise (and,
  for T2M, a newly drawn caption); each round is scored as below and every number is the mean over rounds
  ± the 95 % half-width of the round means (:func:`unimotion.evaluation.replications.merge_rounds`).
* **T2M**: one generation per test motion and round (``--steps`` Euler steps, ``--cfg`` guidance — a run's
  values are printed above this list —, seed = its index + 1,000,003 × round), from one of its three
  captions, at the ground-truth length (cut to a multiple of 4 frames). The
  evaluator's 20 replications reshuffle the R-precision pools of 32 (and redraw Diversity pairs) over that
  one set of generations — the Real row uses the same pools. Baselines
  (:mod:`unimotion.evaluation.baselines`), scored with the same captions: a random *training* motion with
  the test motion's (content, style) label ("label retrieval": on ``test`` it equals Real, so ``test`` R@k
  only says whether the right label comes out; undefined on ``test_novel``), one with the same content,
  and any training motion. "UniMotion, no post-processing" is the same model's decoder output before the
  pipeline's rigid skeleton and contact clean-up (round 0). Per action: R@3 of each test motion's pairs,
  averaged per content label over the rounds' pool replications. The "VAE reconstruction (bound)" row scores
  the VAE's encode → decode of every test motion the same way: generated latents decode through the same
  VAE, so this row bounds what any generation can reach. MultiModality: the first ``--mm-motions``
  motions of the split, ``--mm-repeats`` generations each (different seeds), 10 pairs per caption.
* **M2T**: one greedy caption per motion (max 48 tokens); R@k/MM-Dist through the evaluator's text side
  (20 pool replications), BLEU@4, ROUGE-L, CIDEr and BERTScore (MiniLM, not comparable to published
  roberta-large scores) against the motion's three reference captions. The Real row scores each motion's
  first caption against the other two.
* **Prediction** (MotionGPT's protocol): the first ⌈0.2·T⌉ frames are observed, the continuation is
  generated to the ground-truth length; ADE/FDE (metres) on the predicted frames, FID/Diversity of the
  whole motions. Baselines on joints: the last observed pose held, and every joint moving on at its last
  velocity. "join jump" = the pose change (mm, mean over joints, the root's horizontal travel removed)
  between the last observed and the first predicted frame; Real's row gives the ground truth's own change
  at that frame and the median of the change between any two consecutive frames of the test motions.
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
* **Physics** (:mod:`unimotion.evaluation.physics`): foot-skate ratio (GMD), floating and ground
  penetration (PhysDiff-style, lowest joint), bone-length std within a clip, on the joints each method
  returns (Real: the test motions); "BVH err" = the largest distance between the generated joints and
  forward kinematics of their BVH export read back from text (first 32 motions of round 0).
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
PRED_COLUMNS = ["split", "method", "n", "ADE", "FDE", "FID", "Diversity", "join_jump_mm", "median_frame_change_mm"]
PHYS_COLUMNS = ["task", "split", "method", "n", "skate_ratio", "skate_per_contact", "float_mm", "penetration_mm",
                "bone_std_mm", "bone_std_max_mm", "bvh_err_mm"]
ACTION_COLUMNS = ["split", "action", "train motions", "n", "R@3 (UniMotion)", "R@3 (Real)"]
EDIT_COLUMNS = ["split", "kind", "method", "n", "R@1", "R@3", "FID"]
LRA_COLUMNS = ["split", "method", "n", "FID", "MPJPE_mm", "APE_joints_cm"]
VAE_BOUND = "VAE reconstruction (bound)"
BASELINES = {"label": "label retrieval (train motion, same label)", "content": "same action (train motion)",
             "any": "random train motion"}


# ============================================================================================ generation
def _batches(n: int, size: int):
    for s in range(0, n, size):
        yield slice(s, min(n, s + size))


def crop(n: int, unit: int) -> int:
    from unimotion.evaluation.tasks import crop_length

    return crop_length(n, unit)


ROUND_SEED = 1_000_003  # seed offset of generation round k (module docstring)


def generate_t2m(pipe, data, cfg, args, log, round_index: int = 0) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """One motion per record (plus ``<id>_rep<k>`` MultiModality repeats for the first mm-motions in round 0)."""
    rng = np.random.default_rng([args.seed, round_index]) if round_index else np.random.default_rng(args.seed)
    ids = data.ids
    caps = {r.name: r.captions[int(rng.integers(len(r.captions)))].text for r in data.records}
    lengths = {r.name: crop(r.length, cfg.unit_length) for r in data.records}
    jobs = [(i, i, k + ROUND_SEED * round_index) for k, i in enumerate(ids)]  # (output name, id, seed)
    if args.mm_repeats > 0 and round_index == 0:
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
        log(f"  t2m {data.split} round {round_index}: {len(out)}/{len(jobs)}")
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


def generate_prediction(pipe, data, cfg, args, log, round_index: int = 0) -> dict[str, np.ndarray]:
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
        seeds = [data.ids.index(r.name) + ROUND_SEED * round_index for r in chunk]
        for r, res in zip(chunk, pipe.predict(obs, frames=cont, seed=seeds, num_steps=args.steps,
                                              cfg_scale=args.cfg), strict=True):
            out[r.name] = res.features
        log(f"  prediction {data.split} round {round_index}: {len(out)}/{len(recs)}")
    return out


def generate_edits(pipe, pairs, by_id, cfg, args, log, round_index: int = 0) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    order = sorted(range(len(pairs)), key=lambda k: by_id[pairs[k].target].length)
    for sl in _batches(len(order), args.batch):
        chunk = [pairs[k] for k in order[sl]]
        srcs = [by_id[p.source].motion[: crop(by_id[p.source].length, cfg.unit_length)] for p in chunk]
        frames = [crop(by_id[p.target].length, cfg.unit_length) for p in chunk]
        res = pipe.edit(srcs, [p.instruction for p in chunk], frames=frames,
                        seed=[k + ROUND_SEED * round_index for k in order[sl]], num_steps=args.steps,
                        cfg_scale=args.cfg)
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


# ============================================================================================ scoring helpers
def joints_of(features: dict[str, np.ndarray] | list[np.ndarray]) -> list[np.ndarray]:
    from unimotion.motion.hml3d import features_to_joints

    seqs = features.values() if isinstance(features, dict) else features
    return [np.asarray(features_to_joints(np.asarray(f[:, :263], dtype=np.float64))) for f in seqs]


def bvh_error_mm(joints: list[np.ndarray], fps: float, limit: int = 32) -> float:
    """Largest distance (mm) between joints and FK of their BVH export written to text and read back."""
    import tempfile

    from unimotion.io.bvh import read_bvh
    from unimotion.io.bvh_export import reproduction_error, save_bvh

    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for k, j in enumerate(joints[:limit]):
            path = Path(tmp) / f"{k}.bvh"
            save_bvh(path, j, fps=fps)
            worst = max(worst, 1000.0 * reproduction_error(read_bvh(path), j).max)
    return worst


def physics_row(task: str, split: str, method: str, joints: list[np.ndarray], fps: float,
                bvh: bool = False) -> dict[str, Any]:
    from unimotion.evaluation.physics import PhysicsConfig, physics_metrics

    m = physics_metrics(joints, PhysicsConfig(fps=fps))
    row = {"task": "physics", "of": task, "split": split, "method": method, **m}
    if bvh:
        row["bvh_err_mm"] = bvh_error_mm(joints, fps)
    return row


def _pose(j: np.ndarray) -> np.ndarray:
    """Joints (T, J, 3) relative to the root's horizontal position (the pose, its height included)."""
    out = np.array(j, dtype=np.float64)
    out[..., [0, 2]] -= out[:, :1, [0, 2]]
    return out


def join_jump_mm(joints: list[np.ndarray], observed: list[int]) -> float:
    """Mean over motions of the pose change (mm, mean over joints, root's horizontal travel removed) from
    the last observed to the first predicted frame."""
    return float(np.mean([1000.0 * np.linalg.norm(_pose(j[o - 1 : o + 1])[1] - _pose(j[o - 1 : o + 1])[0], axis=-1).mean()
                          for j, o in zip(joints, observed, strict=True)]))


def frame_change_median_mm(joints: list[np.ndarray]) -> float:
    """Median over all frames of the same pose change between consecutive frames of ``joints`` (mm)."""
    return float(np.median(np.concatenate([1000.0 * np.linalg.norm(np.diff(_pose(j), axis=0), axis=-1).mean(-1)
                                           for j in joints])))


def merged(rows_by_round: list[list[dict[str, Any]]], extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Rows of several rounds (same methods in the same order) → one merged row per method."""
    from unimotion.evaluation.replications import merge_rounds

    out = []
    for k in range(len(rows_by_round[0])):
        row = merge_rounds([rows[k] for rows in rows_by_round])
        out.append({**row, **(extra or {})})
    return out


def t2m_section(pipe, raw_pipe, evaluator, data, train, cfg, args, log, rows, timings) -> None:
    """T2M rows of one split: UniMotion over rounds, baselines, the VAE bound, per-action R@3, physics."""
    from unimotion.data.unimotion_tasks import parse_labels
    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.baselines import retrieval_baseline
    from unimotion.evaluation.protocol import embed_texts
    from unimotion.evaluation.replications import per_label_hits

    split = data.split
    t0 = time.time()
    model_rounds, base_rounds, phys_rounds, caps_rounds = [], {}, [], []
    action_hits: list[dict] = []
    labels = [(lab.content if lab else "?") for lab in map(parse_labels, data.ids)]
    train_feats = {r.name: r.motion[: crop(r.length, cfg.unit_length)] for r in train.records}
    for k in range(args.rounds):
        preds, caps = generate_t2m(pipe, data, cfg, args, log, round_index=k)
        caps_rounds.append(caps)
        got = T.evaluate_t2m(evaluator, data, preds, cfg, "UniMotion", caps)
        model_rounds.append(got)
        gen_joints = joints_of([preds[i] for i in data.ids])
        phys_rounds.append([physics_row("t2m", split, "UniMotion", gen_joints, pipe.fps)])
        if k == 0:
            bvh_err = bvh_error_mm(gen_joints, pipe.fps)
        text = embed_texts(evaluator, [caps[i] for i in data.ids])
        gen = T._motion_embeddings(evaluator, [preds[i][:, :263] for i in data.ids])
        action_hits.append(per_label_hits(text, gen, labels, cfg.batch_size, cfg.replications, args.seed + k))
        for match, name in BASELINES.items():
            pick = retrieval_baseline(data.ids, train.ids, match, seed=args.seed + k)
            if pick is None:
                continue
            b = T.evaluate_t2m(evaluator, data, {i: train_feats[pick[i]] for i in data.ids}, cfg, name, caps)[1:]
            base_rounds.setdefault(name, []).append(b)
    timings[f"t2m/{split}"] = time.time() - t0
    model = merged(model_rounds)
    if "MultiModality" in model_rounds[0][1]:  # the repeats are generated in round 0 only
        model[1]["MultiModality"] = {**model_rounds[0][1]["MultiModality"], "rounds": 1}
    rows += [{"task": "t2m", **r} for r in model]
    for name in BASELINES.values():
        if name in base_rounds:
            rows += [{"task": "t2m", **r} for r in merged(base_rounds[name])]
        else:
            rows.append({"task": "t2m", "split": split, "method": name, "n": 0,
                         "note": "undefined: no training motion has these labels"})
    # the VAE's own reconstruction of every test motion, scored like a generation (one deterministic round)
    recon = lra_predictions(pipe, None, data, cfg, args, "vae")
    rows += [{"task": "t2m", "rounds": 1, **r} for r in T.evaluate_t2m(evaluator, data, recon, cfg, VAE_BOUND)[1:]]
    # the same model without the pipeline's post-processing (round 0)
    raw_preds, _ = generate_t2m(raw_pipe, data, cfg, argparse.Namespace(**{**vars(args), "mm_repeats": 0}), log, 0)
    rows += [{"task": "t2m", "rounds": 1, **r}
             for r in T.evaluate_t2m(evaluator, data, raw_preds, cfg, "UniMotion, no post-processing", caps_rounds[0])[1:]]
    # physics: Real, the model (rounds), its raw decoder output, the VAE reconstruction
    real_joints = joints_of(data.features(cfg.unit_length))
    rows.append(physics_row("t2m", split, "Real", real_joints, pipe.fps))
    rows += [{**r, "task": "physics", "of": "t2m", "bvh_err_mm": bvh_err} for r in merged(phys_rounds)]
    rows.append(physics_row("t2m", split, "UniMotion, no post-processing",
                            joints_of([raw_preds[i] for i in data.ids]), pipe.fps, bvh=True))
    rows.append(physics_row("t2m", split, "VAE reconstruction", joints_of([recon[i] for i in data.ids]), pipe.fps))
    # per action
    counts = (pipe.vocabulary.actions if pipe.vocabulary is not None else {})
    real_text = embed_texts(evaluator, [caps_rounds[0][i] for i in data.ids])
    real_emb = T._motion_embeddings(evaluator, [f[:, :263] for f in data.features(cfg.unit_length)])
    real_hits = per_label_hits(real_text, real_emb, labels, cfg.batch_size, cfg.replications, args.seed)
    for action in sorted(set(labels)):
        vals = [h[action]["R@3"] for h in action_hits if action in h]
        mean, ci = (np.mean(vals), 1.96 * np.std(vals) / np.sqrt(len(vals))) if vals else (None, None)
        rows.append({"task": "t2m_action", "split": split, "action": action, "train motions": counts.get(action, 0),
                     "n": labels.count(action), "R@3 (UniMotion)": {"mean": mean, "ci95": ci},
                     "R@3 (Real)": real_hits.get(action, {}).get("R@3")})


def prediction_section(pipe, evaluator, data, cfg, args, log, rows, timings) -> None:
    """Prediction rows of one split: the model over rounds, the two continuation baselines, join jumps."""
    from unimotion.evaluation import tasks as T
    from unimotion.evaluation.baselines import constant_velocity, hold_last_pose

    split = data.split
    t0 = time.time()
    gt = data.features(cfg.unit_length)
    gt_joints = joints_of(gt)
    observed = [math.ceil(cfg.prefix_ratio * len(j)) for j in gt_joints]
    real_jump = join_jump_mm(gt_joints, observed)  # the ground truth's own change at the same frame
    real_median = frame_change_median_mm(gt_joints)
    rounds, phys = [], []
    for k in range(args.rounds):
        preds = generate_prediction(pipe, data, cfg, args, log, round_index=k)
        got = T.evaluate_prediction(evaluator, data, preds, cfg, "UniMotion")
        pj = joints_of([preds[i] for i in data.ids])
        got[0]["join_jump_mm"] = real_jump
        got[0]["median_frame_change_mm"] = real_median
        got[1]["join_jump_mm"] = join_jump_mm(pj, observed)
        rounds.append(got)
        phys.append([physics_row("prediction", split, "UniMotion",
                                 [j[o:] for j, o in zip(pj, observed, strict=True)], pipe.fps)])
    timings[f"prediction/{split}"] = time.time() - t0
    rows += [{"task": "prediction", **r} for r in merged(rounds)]
    for name, fn in (("last pose", hold_last_pose), ("constant velocity", constant_velocity)):
        base = {i: fn(j, o, len(j)) for i, j, o in zip(data.ids, gt_joints, observed, strict=True)}
        got = T.evaluate_prediction(evaluator, data, base, cfg, name)[1]
        got["join_jump_mm"] = join_jump_mm(list(base.values()), observed)
        rows.append({"task": "prediction", "rounds": 1, **got})
    rows += [{**r, "task": "physics", "of": "prediction"} for r in merged(phys)]


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
    p.add_argument("--rounds", type=int, default=3,
                   help="independent generation rounds of T2M, prediction and editing (mean ± 95%% CI over rounds)")
    p.add_argument("--train-split", default="train", help="where the T2M baselines draw their motions from")
    p.add_argument("--pool", type=int, default=32, help="R-precision pool (32 = the protocol)")
    p.add_argument("--diversity-pairs", type=int, default=150)
    p.add_argument("--captioning", nargs="+", default=["bleu", "rouge", "cider", "bertscore"])
    p.add_argument("--limit", type=int, default=None, help="first N motions per split (smoke tests)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(REPO / "docs" / "results" / "unimotion_bandaiml"))
    p.add_argument("--title", default="UniMotion on BandaiML (demo checkpoint)")
    p.add_argument("--merge", nargs="+", default=None, metavar="JSON",
                   help="combine the result files of runs that differ only in --splits (e.g. one process per split "
                        "on a machine with several cores) into --out; nothing is generated")
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
    from unimotion.evaluation.reports import results_meta
    from unimotion.pipelines.unimotion import UniMotionPipeline

    args = parse_args(argv)
    if args.merge:
        return merge_results(args, argv if argv is not None else sys.argv[1:])
    torch.set_num_threads(args.threads)
    started = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - started:7.1f}s] {msg}", flush=True)

    pipe = UniMotionPipeline.from_pretrained(args.checkpoint)
    from dataclasses import replace

    raw_pipe = UniMotionPipeline(pipe.model, pipe.vae, replace(pipe.config, rigid=False, clean_contacts=False,
                                                                join_frames=0))
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
    train = T.load_split(args.data, args.train_split, feature_dir=args.feature_dir) if "t2m" in args.tasks else None
    for split in args.splits:
        data = T.load_split(args.data, split, feature_dir=args.feature_dir)
        if args.limit:
            data.records = data.records[: args.limit]
        log(f"{split}: {len(data.records)} motions")
        if "t2m" in args.tasks:
            t2m_section(pipe, raw_pipe, evaluator, data, train, cfg, args, log, rows, timings)
        if "m2t" in args.tasks:
            t0 = time.time()
            caps_pred = generate_m2t(pipe, data, cfg, args, log)
            timings[f"m2t/{split}"] = time.time() - t0
            rows += [{"task": "m2t", **r} for r in T.evaluate_m2t(evaluator, data, caps_pred, cfg, "UniMotion")]
            examples = [{"id": i, "caption": caps_pred[i], "reference": data.records[k].captions[0].text}
                        for k, i in enumerate(data.ids[:5])]
            rows.append({"task": "m2t_examples", "split": split, "examples": examples})
        if "prediction" in args.tasks:
            prediction_section(pipe, evaluator, data, cfg, args, log, rows, timings)
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
                edits = [T.EditPair(p.name, p.source, p.target, p.instruction) for p in pairs]
                rounds = []
                for k in range(args.rounds):
                    preds = generate_edits(pipe, pairs, by_id, cfg, args, log, round_index=k)
                    rounds.append(T.evaluate_edit(evaluator, both, edits, preds, cfg, "UniMotion"))
                    if k == 0:
                        phys = physics_row("editing", split, f"UniMotion ({kind})", joints_of(preds), pipe.fps)
                timings[f"editing/{kind}/{split}"] = time.time() - t0
                for r in merged(rounds):
                    rows.append({"task": "editing", "kind": kind, "source_pool": pool_name, **r})
                rows.append(phys)
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
        "replications": args.replications, "rounds": args.rounds,
    }
    command = "python benchmarks/unimotion_eval.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = results_meta(budget=budget, command=command.strip(), checkpoint=str(args.checkpoint),
                        lra_checkpoint=args.lra_checkpoint, protocol=protocol,
                        timings_s={k: round(v, 1) for k, v in timings.items()},
                        wall_s=round(time.time() - started, 1))
    write_report(args, rows, meta)
    log(f"wrote {args.out}.json and .md")
    return 0


def write_report(args: argparse.Namespace, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    """``args.out``.json (every row) and .md (T2M table first, then the other tasks' sections)."""
    from unimotion.evaluation.reports import markdown_table, render_markdown, write_results
    from unimotion.utils.io import write_text

    notes = render_notes(rows, markdown_table, protocol_summary(args))
    if meta.get("merged_from"):
        runs = "\n".join(f"* `{m['command']}` (commit `{m['git_commit']}`, {m['wall_s']} s)" for m in meta["merged_from"])
        notes = f"**Merged from** (one process per split):\n\n{runs}\n\n{notes}"
    write_results(args.out, rows, meta, title=args.title, columns=T2M_COLUMNS, notes=notes)
    # write_results renders the first table from `columns` over every row: re-render with the T2M rows only
    payload = {"meta": {**meta, "columns": T2M_COLUMNS}, "rows": [r for r in rows if r.get("task") == "t2m"]}
    text = render_markdown(payload, args.title, notes)
    text = text.replace("\n| split |", "\n## Text → motion\n\n| split |", 1)
    write_text(Path(args.out).with_suffix(".md"), text)


# options that may differ between the runs that --merge combines
MERGE_FREE_OPTIONS = ("splits", "out", "threads", "title", "merge")


def merge_results(args: argparse.Namespace, argv: list[str]) -> int:
    """``--merge A.json B.json …``: one result file from runs of the same checkpoint and protocol on different
    splits. Each input's generating command is re-parsed; every option except ``--splits`` / ``--out`` /
    ``--threads`` / ``--title`` must agree, and so must the commit the runs were made at. Rows keep the inputs'
    order; the inputs' commands, commits and wall times are kept in ``meta.merged_from``."""
    import shlex

    from unimotion.evaluation.reports import results_meta

    payloads, runs = [], []
    for path in args.merge:
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
            command = shlex.split(payload["meta"]["command"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"--merge: {path} is not a result file of this benchmark ({exc})") from exc
        payloads.append(payload)
        runs.append(parse_args(command[2:]))
    if any(run.merge for run in runs):
        raise SystemExit("--merge: the inputs must come from evaluation runs, not from another merge")

    def options(run: argparse.Namespace) -> dict[str, Any]:
        return {k: v for k, v in vars(run).items() if k not in MERGE_FREE_OPTIONS}

    reference = options(runs[0])
    for path, run, payload in zip(args.merge[1:], runs[1:], payloads[1:], strict=True):
        differ = sorted(k for k, v in options(run).items() if reference[k] != v)
        if differ:
            raise SystemExit(f"--merge: {path} was run with other options than {args.merge[0]}: {', '.join(differ)}")
        if payload["meta"].get("git_commit") != payloads[0]["meta"].get("git_commit"):
            raise SystemExit(f"--merge: {path} and {args.merge[0]} were made at different commits")
    splits = [s for run in runs for s in run.splits]
    if len(set(splits)) != len(splits):
        raise SystemExit(f"--merge: a split is in more than one input: {splits}")
    first = payloads[0]["meta"]
    meta = results_meta(
        budget=first.get("budget"), command="python benchmarks/unimotion_eval.py " + " ".join(argv),
        checkpoint=first.get("checkpoint"), lra_checkpoint=first.get("lra_checkpoint"),
        protocol=first.get("protocol"),
        timings_s={k: v for p in payloads for k, v in (p["meta"].get("timings_s") or {}).items()},
        wall_s=max(float(p["meta"].get("wall_s") or 0.0) for p in payloads),
        merged_from=[{k: p["meta"].get(k) for k in ("command", "git_commit", "date", "wall_s")} for p in payloads])
    run = runs[0]
    run.splits, run.out, run.title = splits, args.out, args.title
    write_report(run, [r for p in payloads for r in p["rows"]], meta)
    print(f"merged {len(payloads)} result files ({', '.join(splits)}) into {args.out}.json and .md")
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
    return (f"**This run:** Euler {args.steps} steps, CFG {args.cfg:g}, {args.rounds} generation round(s) of one "
            f"motion per test motion ({limit}); "
            f"{args.replications} pool replications (pool {args.pool}); {mm}; editing: {edits} "
            f"({', '.join(args.edit_kinds)}); Diversity over {args.diversity_pairs} pairs; captioning metrics: "
            f"{', '.join(args.captioning)}.")


def render_notes(rows: list[dict[str, Any]], markdown_table, summary: str = "") -> str:
    """The other tasks' tables and the protocol notes (rendered from the same rows)."""
    parts = []
    sections = [("t2m_action", "Text → motion per action (R@3)", ACTION_COLUMNS),
                ("m2t", "Motion → text", M2T_COLUMNS), ("prediction", "Motion prediction", PRED_COLUMNS),
                ("editing", "Motion editing (generated-to-target retrieval)", EDIT_COLUMNS),
                ("physics", "Physical plausibility (joints as returned)", PHYS_COLUMNS),
                ("lra", "LRA shuffled-condition control (Stage-0 model)", LRA_COLUMNS)]
    for task, title, cols in sections:
        sel = [r for r in rows if r.get("task") == task]
        if task == "physics":
            sel = [{**r, "task": r.get("of")} for r in sel]
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
