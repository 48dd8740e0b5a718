"""Start-up of the command line: ``unimotion --help`` and ``unimotion generate`` wall time and peak memory.

Each measurement is a fresh process (what a user waits for), repeated ``--runs`` times; the table gives the
median, the range and the peak resident memory (``ru_maxrss`` of the child). A stage breakdown (imports,
pipeline loading, generation, GIF) and the generation time per torch thread count come from separate child
processes. With ``--baseline REV`` the same commands also run on the sources of git revision ``REV`` (extracted
with ``git archive`` into a temporary folder), in the same session, so "before" and "after" share the
machine's load.

    python benchmarks/startup.py                      # 5 runs each, writes docs/results/startup.{json,md}
    python benchmarks/startup.py --runs 3 --baseline c730e69 --out /tmp/startup

Goals (issue 18): ``unimotion --help`` ≤ 0.5 s, ``unimotion generate "a person walks forward" --seconds 4``
≤ 3 s wall, medians, on a 2-core CPU machine. The machine is shared: the load average before and after the
run is recorded in the metadata; compare rows of one run only.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHECKPOINT = REPO / "checkpoints" / "unimotion_bandaiml"
PROMPT = "a person walks forward"
GOALS = {"help": 0.5, "generate": 3.0}

# A child process that times the stages of `unimotion generate` (stdout: one JSON line).
STAGES = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
t1 = time.perf_counter()
threads = int(sys.argv[2])
torch.set_num_threads(threads)
from unimotion.pipelines.unimotion import UniMotionPipeline
t2 = time.perf_counter()
pipe = UniMotionPipeline.from_pretrained(sys.argv[1])
t3 = time.perf_counter()
res = pipe.text_to_motion(sys.argv[3], seconds=4.0, seed=0)
t4 = time.perf_counter()
res2 = pipe.text_to_motion(sys.argv[3], seconds=4.0, seed=0)
t5 = time.perf_counter()
from unimotion.io.render import render_frames, save_gif
frames = render_frames(res.joints, size=256, follow_root=True, titles=res.prompt)
t6 = time.perf_counter()
import hashlib
digest = hashlib.sha256(res.features.tobytes()).hexdigest()[:16]
print(json.dumps({"import_torch_s": t1 - t0, "import_pipeline_s": t2 - t1, "load_pipeline_s": t3 - t2,
                  "generate_first_s": t4 - t3, "generate_again_s": t5 - t4, "render_gif_frames_s": t6 - t5,
                  "modules": len(sys.modules), "transformers_modules": sum(m.startswith("transformers") for m in sys.modules),
                  "features_sha256": digest}))
"""


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, int, str, str]:
    """(wall seconds, peak RSS MB, exit code, stdout, stderr) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024.0, proc.returncode, out.read().decode(), err.read().decode()


def _env(src: Path, threads_env: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "OMP_NUM_THREADS")}
    env.update(PYTHONPATH=str(src), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    if threads_env is not None:
        env["OMP_NUM_THREADS"] = threads_env
    return env


def _series(cmd: list[str], env: dict[str, str], runs: int, fresh_cwd: bool) -> dict:
    walls, rss = [], []
    for _ in range(runs):
        cwd = Path(tempfile.mkdtemp(prefix="unimotion-startup-")) if fresh_cwd else REPO
        try:
            wall, mem, code, out, err = _run(cmd, env, cwd)
        finally:
            if fresh_cwd:
                shutil.rmtree(cwd, ignore_errors=True)
        if code != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({code}):\n{err[-2000:]}")
        walls.append(wall)
        rss.append(mem)
    return {"median_s": statistics.median(walls), "min_s": min(walls), "max_s": max(walls),
            "peak_rss_mb": max(rss), "runs": runs}


def _extract(rev: str, into: Path) -> Path:
    """``src/`` of git revision ``rev`` (read-only use of the repository)."""
    archive = into / "src.tar"
    with archive.open("wb") as f:
        subprocess.run(["git", "archive", rev, "src"], cwd=REPO, stdout=f, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="processes per measurement (default 5)")
    parser.add_argument("--baseline", default=None, help="also measure the sources of this git revision")
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="torch thread counts for the generation timing (default: 1, 2 and the CPU count)")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "startup"),
                        help="output stem for .json/.md (default docs/results/startup)")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be >= 1")
    threads = args.threads or sorted({1, 2, os.cpu_count() or 1})

    load_before = _load_average()
    sources = {"this tree": REPO / "src"}
    tmp = Path(tempfile.mkdtemp(prefix="unimotion-baseline-"))
    try:
        if args.baseline:
            sources[f"baseline {args.baseline}"] = _extract(args.baseline, tmp)
        rows = []
        cli = [sys.executable, "-m", "unimotion.cli"]
        for label, src in sources.items():
            env = _env(src)
            commands = {
                "unimotion --help": ([*cli, "--help"], "help", False),
                f'unimotion generate "{PROMPT}" --seconds 4': (
                    [*cli, "generate", PROMPT, "--seconds", "4", "--checkpoint", str(CHECKPOINT)], "generate", True),
                f'unimotion generate "{PROMPT}" --seconds 4 -o motion.npz': (
                    [*cli, "generate", PROMPT, "--seconds", "4", "-o", "motion.npz", "--checkpoint", str(CHECKPOINT)],
                    None, True),
            }
            for name, (cmd, goal, fresh) in commands.items():
                print(f"[{label}] {name} ...", flush=True)
                stats = _series(cmd, env, args.runs, fresh)
                row = {"sources": label, "measure": name, **stats}
                if goal is not None:
                    row["goal_s"] = GOALS[goal]
                    row["meets_goal"] = stats["median_s"] <= GOALS[goal]
                rows.append(row)
            # stages, per thread count (one process each; the breakdown of the first thread count)
            for n in threads:
                print(f"[{label}] stages with {n} thread(s) ...", flush=True)
                samples = []
                for _ in range(args.runs):
                    _, mem, code, out, err = _run([sys.executable, "-c", STAGES, str(CHECKPOINT), str(n), PROMPT],
                                                  env, REPO)
                    if code != 0:
                        raise SystemExit(f"stage timing failed:\n{err[-2000:]}")
                    samples.append(json.loads(out.strip().splitlines()[-1]))
                med = {k: statistics.median(s[k] for s in samples) for k in samples[0] if k.endswith("_s")}
                digests = {s["features_sha256"] for s in samples}
                rows.append({"sources": label, "measure": f"stages, torch threads = {n}",
                             **{k: round(v, 4) for k, v in med.items()},
                             "modules": samples[0]["modules"], "transformers_modules": samples[0]["transformers_modules"],
                             "features_sha256": ",".join(sorted(digests)), "runs": args.runs})
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = _load_average()

    for r in rows:
        if "median_s" in r:
            goal = f"  (goal ≤ {r['goal_s']} s: {'met' if r['meets_goal'] else 'NOT met'})" if "goal_s" in r else ""
            print(f"{r['sources']:<22} {r['measure']:<62} median {r['median_s']:6.2f} s  "
                  f"[{r['min_s']:.2f}, {r['max_s']:.2f}]  peak RSS {r['peak_rss_mb']:6.0f} MB{goal}")
        else:
            print(f"{r['sources']:<22} {r['measure']:<62} torch {r['import_torch_s']:.2f} s, pipeline module "
                  f"{r['import_pipeline_s']:.2f} s, load {r['load_pipeline_s']:.2f} s, generate "
                  f"{r['generate_first_s']:.2f} s (again {r['generate_again_s']:.2f} s), GIF frames "
                  f"{r['render_gif_frames_s']:.2f} s; sha {r['features_sha256']}")

    from unimotion.evaluation.reports import results_meta, write_results

    command = "python benchmarks/startup.py " + " ".join(argv if argv is not None else sys.argv[1:])
    meta = results_meta(command=command.strip(), budget=f"{args.runs} processes per measurement, medians",
                        runs=args.runs, baseline=args.baseline, thread_counts=threads, goals_s=GOALS,
                        load_average_before=load_before, load_average_after=load_after,
                        checkpoint=str(CHECKPOINT.relative_to(REPO)))
    columns = ["sources", "measure", "median_s", "min_s", "max_s", "peak_rss_mb", "goal_s", "meets_goal",
               "import_torch_s", "import_pipeline_s", "load_pipeline_s", "generate_first_s", "generate_again_s",
               "render_gif_frames_s", "transformers_modules", "features_sha256"]
    notes = (
        "Wall time of fresh processes (`python -m unimotion.cli ...`, so the console-script wrapper is not "
        "included), median over the runs with [min, max]; `peak_rss_mb` is the largest `ru_maxrss` of the runs. "
        "`generate` writes the default `motion.gif` (render + GIF encoding included) in an empty folder; the "
        "`-o motion.npz` row skips rendering. The `stages` rows time one child process per run: importing torch, "
        "importing the pipeline module, loading the pipeline (transformers' Qwen2 and tokenizer imports happen "
        "here), a first and a second 4-s generation, and rendering the GIF frames, with torch set to the given "
        "number of threads; `features_sha256` shows that the sampled motion is identical across thread counts "
        "and sources. The machine is shared with other jobs (load averages in the JSON metadata): rows of one "
        "run are comparable, rows of different runs are not."
    )
    json_path, md_path = write_results(args.out, rows, meta, "Command-line start-up", columns=columns, notes=notes)
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
