"""Fuzz campaign: ≥ 10,000 generated hostile inputs through every reader, out of process, with limits on time
and memory. Writes ``docs/results/robustness.json`` + ``.md``.

    python benchmarks/fuzz.py                          # the committed campaign (seed 0, 10,863 inputs)
    python benchmarks/fuzz.py --scale 0.05 --out /tmp/rob   # a quick look

Inputs (all generated here from a seed, nothing downloaded; mutators in ``tests/fuzz/mutators.py``, the named
cases in ``tests/fuzz/hostile.py``):

* ``bvh``: mutated BVH fixtures (Bandai-, CMU-, Mixamo-style rigs) → ``read_bvh`` + ``retarget_to_t2m``;
* ``motion``: mutated ``.npy`` / ``.npz`` joints and features → ``unimotion.cli.generate.read_motion`` (the
  ``caption``/``predict``/``edit`` loader) and ``unimotion.cli.render.load_motion``;
* ``video``: mutated GIFs and PNGs → ``unimotion.io.video.read_video``;
* ``checkpoint``: a small checkpoint with mutated ``config.json`` values, safetensors headers, weights (NaN,
  truncation, flipped bytes) and ``NOTICE`` → ``load_pretrained``;
* ``prompt``: random text with chat-template tokens, lone surrogates and control characters →
  ``check_prompt`` then the sequence builder (the user turn must keep the template's turn markers);
* ``hostile``: the named cases of ``tests/fuzz/hostile.py`` (the ones from the issue).

Each input runs in a worker process (``nice``-able, single thread) that reports, per input, the outcome, the
reader's wall and CPU time and the process's peak RSS. Outcomes:

* ``ok``: finite output; ``library_error``: a ``UnimotionError``; ``raw_exception``: anything else;
* ``non_finite``: NaN/Inf returned (or joints beyond MOTION_MAX_ABS);
* ``hang``: more than ``--timeout`` s of the reader's CPU time, or 3× that of wall time (a stuck worker is
  killed and restarted);
* ``memory``: the peak RSS grew past ``--memory-gb`` over the worker's baseline, or an allocation past it
  failed (the worker runs under ``RLIMIT_AS`` = its size after imports + that budget, and is restarted);
* ``crash``: the worker died; ``generator_error``: building the input failed (a bug of this script).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import selectors
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FUZZ_DIR = REPO / "tests" / "fuzz"
FAMILIES = {  # family -> inputs at --scale 1
    "bvh": 5000,
    "motion": 2400,
    "video": 2000,
    "checkpoint": 400,
    "prompt": 1000,
    "hostile": -1,  # every named case once
}
BAD = ("raw_exception", "hang", "memory", "non_finite", "crash", "generator_error")


# =========================================================================================== worker side
def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """User + system CPU seconds of this process (page faults included, time waiting for a core excluded)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _vm_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class _Inputs:
    """Builds input number ``index`` of a family from (seed, family, index) and runs it through its reader."""

    def __init__(self, seed: int, work: Path):
        sys.path.insert(0, str(FUZZ_DIR))
        import hostile
        import mutators
        import numpy as np

        import unimotion.cli.generate  # noqa: F401 - import before the budget is measured
        import unimotion.cli.render  # noqa: F401
        import unimotion.io.render  # noqa: F401
        import unimotion.io.retarget  # noqa: F401
        import unimotion.io.video  # noqa: F401
        import unimotion.models.modeling_utils  # noqa: F401
        from unimotion.models.unimotion.sequence import SequenceBuilder
        from unimotion.models.unimotion.tokenizer import default_tokenizer

        self.np, self.hostile, self.mut = np, hostile, mutators
        self.seed, self.work = seed, work
        self.ckpt = work / "base_ckpt"
        if not self.ckpt.exists():
            hostile.tiny_checkpoint(self.ckpt)
        self.builder = SequenceBuilder(default_tokenizer())
        self.bvh_names = sorted(mutators.BVH_BASES)

    def _rng(self, family: str, index: int):
        return self.np.random.default_rng([self.seed, sum(map(ord, family)), index])

    def _ops(self, rng, n_ops: int, num: int):
        return [(int(rng.integers(num)), int(rng.integers(10**6)), int(rng.integers(10**6)), float(rng.normal()))
                for _ in range(n_ops)]

    # ------------------------------------------------------------------ one input
    def make(self, family: str, index: int):
        """(reader callable, description) for input ``index`` of ``family``; files go to a fresh folder."""
        rng = self._rng(family, index)
        folder = Path(tempfile.mkdtemp(dir=self.work))
        return getattr(self, f"_make_{family}")(rng, index, folder)

    def _make_hostile(self, rng, index, folder):
        case = self.hostile.CASES[index % len(self.hostile.CASES)]
        path = self.hostile.build_case(case, folder)
        return (lambda: self.hostile.READERS[case.reader](path)), case.name

    def _make_bvh(self, rng, index, folder):
        from unimotion.io.bvh import read_bvh
        from unimotion.io.retarget import retarget_to_t2m

        base = self.bvh_names[index % len(self.bvh_names)]
        ops = self._ops(rng, 1 + int(rng.integers(3)), len(self.mut.BVH_OPS))
        text = self.mut.mutate_bvh(self.mut.BVH_BASES[base], ops)
        path = folder / "m.bvh"
        path.write_bytes(text.encode("utf-8", "surrogatepass"))

        def run():
            motion = read_bvh(path)
            pos = motion.joint_positions()
            if not self.np.isfinite(pos).all():
                return pos
            return retarget_to_t2m(motion)

        return run, f"{base} {[self.mut.BVH_OPS[o[0]] for o in ops]}"

    def _make_motion(self, rng, index, folder):
        from unimotion.cli.generate import read_motion
        from unimotion.cli.render import load_motion

        kind = int(rng.integers(60))
        ops = self._ops(rng, 1 + int(rng.integers(3)), len(self.mut.NPY_OPS))
        data = self.mut.mutate_npy(self.mut.npy_bytes(self.mut.base_npy(kind)), ops)
        container = "npz" if index % 3 == 2 else "npy"
        path = folder / f"m.{container}"
        if container == "npz":
            data = self.mut.npz_bytes({"joints" if kind % 3 == 0 else "features": data}, compress=bool(index % 2))
        path.write_bytes(data)
        if index % 2:
            return (lambda: read_motion(path, fps=20.0)[0]), f"read_motion {container} {[self.mut.NPY_OPS[o[0]] for o in ops]}"
        return (lambda: load_motion(path).joints), f"render {container} {[self.mut.NPY_OPS[o[0]] for o in ops]}"

    def _make_video(self, rng, index, folder):
        from unimotion.io.video import read_video

        data, suffix = self.mut.base_image(int(rng.integers(80)))
        ops = self._ops(rng, 1 + int(rng.integers(3)), len(self.mut.IMAGE_OPS))
        path = folder / f"v{suffix}"
        path.write_bytes(self.mut.mutate_image(data, ops))
        fps = [None, 20.0, 1000.0][index % 3]
        return (lambda: read_video(path, fps=fps)), f"{suffix} fps={fps} {[self.mut.IMAGE_OPS[o[0]] for o in ops]}"

    def _make_checkpoint(self, rng, index, folder):
        import shutil
        import struct

        from unimotion.models.modeling_utils import load_pretrained

        path = folder / "ckpt"
        shutil.copytree(self.ckpt, path)
        kind = index % 5
        what = ""
        if kind == 0:  # a config value
            cfg = json.loads((path / "config.json").read_text())
            key = sorted(k for k in cfg if not k.startswith("_"))[int(rng.integers(len(cfg) - 2))]
            value = [0, -1, 1, 3, 2**31, 10**9, 10**18, 1.5, -1e300, float("nan"), "x", None, [1] * 10000, {"a": 1},
                     True, 60000, 100_000][int(rng.integers(17))]
            cfg[key] = value
            (path / "config.json").write_text(json.dumps(cfg))
            what = f"config {key}={str(value)[:20]}"
        elif kind == 1:  # the safetensors header
            w = path / "model.safetensors"
            data = bytearray(w.read_bytes())
            n = struct.unpack("<Q", bytes(data[:8]))[0]
            if rng.integers(4) == 0:
                data[:8] = struct.pack("<Q", [0, 1, n - 1, n + 1, 2**40, 2**63][int(rng.integers(6))])
                what = "header length"
            else:
                header = data[8: 8 + n].decode("latin-1")
                digits = [k for k, c in enumerate(header) if c.isdigit()]
                for _ in range(1 + int(rng.integers(3))):
                    k = digits[int(rng.integers(len(digits)))]
                    header = header[:k] + str(int(rng.integers(10))) * int(1 + rng.integers(3)) + header[k + 1:]
                raw = header.encode("latin-1")
                data = bytearray(struct.pack("<Q", len(raw)) + raw + bytes(data[8 + n:]))
                what = "header digits"
            w.write_bytes(bytes(data))
        elif kind == 2:  # weights bytes: flips, truncation, NaN
            w = path / "model.safetensors"
            data = bytearray(w.read_bytes())
            if rng.integers(3) == 0:
                data = data[: int(rng.integers(len(data)))]
                what = "truncated"
            else:
                n = struct.unpack("<Q", bytes(data[:8]))[0]
                for _ in range(1 + int(rng.integers(8))):
                    k = 8 + n + int(rng.integers(len(data) - 8 - n))
                    data[k] = 0xFF if rng.integers(2) else int(rng.integers(256))  # 0xFF.. bytes make NaNs
                what = "data bytes"
            w.write_bytes(bytes(data))
        elif kind == 3:  # NOTICE
            choice = int(rng.integers(3))
            blob = [b"\xff\xfe\x00", b"ok " * 400_000, "licence \u00e9".encode()][choice]
            (path / "NOTICE").write_bytes(blob)
            what = ["notice binary", "notice 1.2 MB", "notice valid"][choice]
        else:  # the whole config replaced by junk JSON
            junk = ["[]", "{", '{"_model_type": "keypoint_net", "num_joints": "22"}', "1e999", '"' + "a" * 1000 + '"',
                    "[" * 5000 + "]" * 5000, '{"_model_type": null}'][int(rng.integers(7))]
            (path / "config.json").write_text(junk)
            what = f"config {junk[:20]}"

        def run():
            model = load_pretrained(path)
            return self.np.concatenate([p.detach().numpy().ravel() for p in model.parameters()])

        return run, what

    def _make_prompt(self, rng, index, folder):
        from unimotion.errors import InputError
        from unimotion.models.unimotion.sequence import TaskExample
        from unimotion.models.unimotion.tokenizer import special_tokens
        from unimotion.pipelines.unimotion import check_prompt

        pieces = ["a person", " walks", " waves", "\n", "\t", "\x00", "\x1b", "\x7f", "\ud800", "\udfff", "é", "🙂",
                  "\u200b", "\u2028", " " * 50, "x" * 300] + special_tokens() + ["<|im_end", "|>", "<|", "assistant\n"]
        text = "".join(pieces[int(rng.integers(len(pieces)))] for _ in range(1 + int(rng.integers(12))))
        builder = self.builder
        im_end, im_start = builder.ids.im_end, builder.ids.im_start

        def run():
            try:
                clean = check_prompt(text, special_tokens=special_tokens())
            except InputError:
                # refused: the defence in depth (tokenisation of user text) must still hold
                clean = text.encode("utf-8", "replace").decode("utf-8")
            ex = builder.tokens(TaskExample("t2m", caption=clean, target_length=2))
            ref = builder.tokens(TaskExample("t2m", caption="a", target_length=2))
            if ex.ids.count(im_end) != ref.ids.count(im_end) or ex.ids.count(im_start) != ref.ids.count(im_start):
                raise AssertionError("a prompt added chat-turn markers")
            return [0.0]

        return run, repr(text[:40])

    # ------------------------------------------------------------------ classify
    def run(self, family: str, index: int) -> dict:
        from unimotion import limits
        from unimotion.errors import UnimotionError

        built = time.perf_counter()
        try:
            fn, what = self.make(family, index)
        except Exception as exc:  # noqa: BLE001 - a bug of the campaign, reported as such
            return {"family": family, "index": index, "outcome": "generator_error", "seconds": 0.0, "limit": None,
                    "detail": f"{type(exc).__name__}: {str(exc)[:200]}", "input": "", "rss_mb": _rss_mb(),
                    "build_s": time.perf_counter() - built}
        start, cpu_start = time.perf_counter(), _cpu_s()
        outcome, detail, limit = "ok", "", None
        try:
            out = fn()
            arr = self.np.asarray(out, dtype=self.np.float64)
            if not self.np.isfinite(arr).all():
                outcome = "non_finite"
            elif family in ("bvh", "motion") and arr.size and self.np.abs(arr).max() > limits.get("MOTION_MAX_ABS"):
                outcome, detail = "non_finite", "beyond MOTION_MAX_ABS"
        except UnimotionError as exc:
            outcome, limit = "library_error", getattr(exc, "limit", None)
            detail = type(exc).__name__
        except MemoryError:
            outcome, detail = "memory", "MemoryError"
        except Exception as exc:  # noqa: BLE001 - what the campaign counts
            outcome, detail = "raw_exception", f"{type(exc).__name__}: {str(exc)[:200]}"
        seconds, cpu = time.perf_counter() - start, _cpu_s() - cpu_start
        return {"family": family, "index": index, "outcome": outcome, "seconds": seconds, "cpu_s": cpu,
                "limit": limit, "detail": detail, "input": what, "rss_mb": _rss_mb(), "build_s": start - built}


def worker_main(seed: int, memory_gb: float, work: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    inputs = _Inputs(seed, Path(work))
    baseline = _rss_mb()
    if memory_gb > 0:
        budget = _vm_bytes() + int(memory_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (budget, budget))
    print(json.dumps({"ready": True, "baseline_rss_mb": baseline}), flush=True)
    for line in sys.stdin:
        family, index = line.split()
        try:
            result = inputs.run(family, int(index))
        except MemoryError:
            result = {"family": family, "index": int(index), "outcome": "memory", "seconds": 0.0, "limit": None,
                      "detail": "MemoryError while building the input", "input": "", "rss_mb": _rss_mb()}
        result["rss_growth_mb"] = result["rss_mb"] - baseline
        print(json.dumps(result), flush=True)


# =========================================================================================== parent side
class Worker:
    def __init__(self, seed: int, memory_gb: float, work: Path):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO / "src") + os.pathsep
               + os.environ.get("PYTHONPATH", ""), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg"}
        self.proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "--worker", "--seed", str(seed), "--memory-gb",
             str(memory_gb), "--work", str(work)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
        self.sel = selectors.DefaultSelector()
        self.sel.register(self.proc.stdout, selectors.EVENT_READ)
        ready = self._read(120.0)
        if ready is None or not ready.get("ready"):
            raise RuntimeError("the fuzz worker did not start")
        self.baseline_rss_mb = ready["baseline_rss_mb"]

    def _read(self, timeout: float) -> dict | None:
        if not self.sel.select(timeout):
            return None
        line = self.proc.stdout.readline()
        if not line:  # end of file: the worker died
            self.proc.wait()
            return None
        return json.loads(line)

    def ask(self, family: str, index: int, timeout: float) -> dict | None:
        """The worker's report, or None when it did not answer in time (or died)."""
        try:
            self.proc.stdin.write(f"{family} {index}\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return None
        return self._read(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def campaign(seed: int, scale: float, timeout: float, memory_gb: float, progress: bool = True,
             families: list[str] | None = None) -> tuple[list, dict]:
    sys.path.insert(0, str(FUZZ_DIR))
    import hostile

    plan = []
    for family, count in FAMILIES.items():
        if families and family not in families:
            continue
        n = len(hostile.CASES) if count < 0 else max(1, int(round(count * scale)))
        plan += [(family, i) for i in range(n)]
    results: list[dict] = []
    restarts = Counter()
    with tempfile.TemporaryDirectory(prefix="unimotion_fuzz_") as work:
        worker = Worker(seed, memory_gb, Path(work))
        started = time.time()
        for k, (family, index) in enumerate(plan):
            # generous wall clock for building the input; a reader past `timeout` is a hang either way
            report = worker.ask(family, index, 3 * timeout + 30.0)
            if report is None:
                alive = worker.proc.poll() is None
                outcome = "hang" if alive else "crash"
                report = {"family": family, "index": index, "outcome": outcome, "seconds": timeout + 30.0,
                          "cpu_s": None, "limit": None,
                          "detail": "no answer" if alive else f"worker exit {worker.proc.returncode}", "input": "",
                          "rss_growth_mb": None}
                worker.close()
                worker = Worker(seed, memory_gb, Path(work))
                restarts[outcome] += 1
            else:
                # a hang: the reader's own CPU time past the timeout, or its wall time past 3× the timeout (the
                # machine is shared: waiting for a core is not the reader's work, but a stuck reader is caught)
                slow = report.get("cpu_s", report["seconds"]) > timeout or report["seconds"] > 3 * timeout
                if slow and report["outcome"] not in BAD:
                    report["outcome"] = "hang"
                if report.get("rss_growth_mb", 0) > memory_gb * 1024 and report["outcome"] not in BAD:
                    report["outcome"], report["detail"] = "memory", f"peak RSS +{report['rss_growth_mb']:.0f} MB"
                if report["outcome"] in ("memory", "crash"):
                    worker.close()
                    worker = Worker(seed, memory_gb, Path(work))
                    restarts["memory"] += 1
            results.append(report)
            for tmp in Path(work).iterdir():  # inputs of finished runs
                if tmp.name != "base_ckpt" and tmp.is_dir():
                    import shutil

                    shutil.rmtree(tmp, ignore_errors=True)
            if progress and (k + 1) % 500 == 0:
                bad = sum(r["outcome"] in BAD for r in results)
                print(f"  {k + 1}/{len(plan)} inputs, {bad} bad, {time.time() - started:.0f} s", flush=True)
        worker.close()
    return results, dict(restarts)


def summarise(results: list[dict], timeout: float) -> list[dict]:
    import numpy as np

    rows = []
    families = list(dict.fromkeys(r["family"] for r in results))
    for family in families + ["all"]:
        rs = [r for r in results if family == "all" or r["family"] == family]
        counts = Counter(r["outcome"] for r in rs)
        secs = np.array([r["seconds"] for r in rs])
        cpus = np.array([r["cpu_s"] for r in rs if r.get("cpu_s") is not None] or [0.0])
        growth = [r["rss_growth_mb"] for r in rs if r.get("rss_growth_mb") is not None]
        rows.append({
            "reader": family, "inputs": len(rs), "ok": counts["ok"], "library_error": counts["library_error"],
            "raw_exception": counts["raw_exception"], "hang_over_timeout": counts["hang"],
            "memory_over_budget": counts["memory"], "non_finite": counts["non_finite"], "crash": counts["crash"],
            "generator_error": counts["generator_error"],
            "limit_errors": sum(1 for r in rs if r.get("limit")),
            "max_cpu_s": float(cpus.max()), "max_wall_s": float(secs.max()), "p99_wall_s": float(np.percentile(secs, 99)),
            "wall_over_timeout": int((secs > timeout).sum()),
            "peak_rss_growth_mb": float(max(growth)) if growth else 0.0,
        })
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the default input counts")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per input before it counts as a hang")
    parser.add_argument("--memory-gb", type=float, default=2.0, help="allocation budget per input (GiB)")
    parser.add_argument("--families", nargs="+", choices=sorted(FAMILIES), default=None,
                        help="run only these input families (default: all)")
    parser.add_argument("--out", default=str(REPO / "docs" / "results" / "robustness"), help="output stem")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args.seed, args.memory_gb, args.work)
        return 0

    sys.path.insert(0, str(REPO / "src"))
    from unimotion import limits
    from unimotion.evaluation.reports import results_meta, write_results

    start = time.time()
    results, restarts = campaign(args.seed, args.scale, args.timeout, args.memory_gb, families=args.families)
    rows = summarise(results, args.timeout)
    total = rows[-1]
    bad = [r for r in results if r["outcome"] in BAD]
    limit_hits = Counter(r["limit"] for r in results if r.get("limit"))
    meta = results_meta(
        budget=f"{total['inputs']} inputs, seed {args.seed}, {args.timeout:g} s and {args.memory_gb:g} GiB per input, "
               "one single-threaded worker process",
        seed=args.seed, timeout_s=args.timeout, memory_budget_gb=args.memory_gb, wall_s=round(time.time() - start, 1),
        worker_restarts=restarts, limits_hit=dict(sorted(limit_hits.items())),
        limit_defaults={k: v.default for k, v in limits.LIMITS.items()},
        failures=bad[:50],
        families=args.families or sorted(FAMILIES),
        passed=not bad and total["inputs"] >= 10_000,
    )
    for row in rows:
        print(f"{row['reader']:>10}: {row['inputs']:6d} inputs  ok {row['ok']:5d}  library errors "
              f"{row['library_error']:5d}  raw {row['raw_exception']}  hangs {row['hang_over_timeout']}  memory "
              f"{row['memory_over_budget']}  non-finite {row['non_finite']}  crash {row['crash']}  max {row['max_cpu_s']:.2f} s CPU "
              f"{row['max_wall_s']:.2f} s wall  "
              f"peak RSS +{row['peak_rss_growth_mb']:.0f} MB")
    for r in bad[:20]:
        print("BAD", r)
    notes = (
        "Every input was generated from the seed by `benchmarks/fuzz.py` (mutators in `tests/fuzz/mutators.py`, named "
        "cases in `tests/fuzz/hostile.py`) and read in a single-threaded worker process. `library_error`: the reader "
        "raised a `UnimotionError` (`limit_errors` of them name a limit of `unimotion.limits`); `raw_exception`: any "
        "other exception; `hang_over_timeout`: the reader used more CPU time (user + system, page faults included) than "
        "the timeout, or more than 3× the timeout of wall time (the machine is shared with other jobs: time spent "
        "waiting for a core is not the reader's); `memory_over_budget`: the "
        "worker's peak RSS grew past the budget or an allocation past it failed (the worker runs under `RLIMIT_AS`); "
        "`non_finite`: a returned array held NaN/Inf (or, for motions, joints beyond `MOTION_MAX_ABS`); `max_cpu_s`: the "
        "longest reader CPU time; `max_wall_s` / `p99_wall_s`: reader wall time; `wall_over_timeout`: inputs whose "
        "wall time (not CPU time) passed the timeout — the load of the shared machine; `peak_rss_growth_mb`: the worker's "
        "peak RSS above its size after imports. "
        f"Limits hit: {', '.join(f'{k} ({v})' for k, v in sorted(limit_hits.items()))}."
    )
    json_path, md_path = write_results(args.out, rows, meta, "Robustness: fuzz campaign over every reader", notes=notes)
    print(f"wrote {json_path} and {md_path}")
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
