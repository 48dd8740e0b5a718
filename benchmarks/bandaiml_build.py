"""Build BandaiML from scratch, time it, and write the dataset table (docs/results/bandaiml.{json,md}).

    python benchmarks/bandaiml_build.py --src ../shared/datasets/bandai --out /tmp/bandaiml_fresh

The output folder must not exist (the point is to time a full build, not a resumed one).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from unimotion.data.bandai import BuildConfig, build_bandai
from unimotion.evaluation.reports import results_meta, write_results

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--src", default=str(REPO.parent / "shared" / "datasets" / "bandai"))
    parser.add_argument("--out", required=True, help="a folder that does not exist yet")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--results", default=str(REPO / "docs" / "results" / "bandaiml"))
    args = parser.parse_args()
    if Path(args.out).exists():
        sys.exit(f"{args.out} exists: give a fresh folder so that the whole build is timed")
    start = time.time()
    manifest = build_bandai(args.src, args.out, BuildConfig(), workers=args.workers, progress=False)
    seconds = time.time() - start
    rows = [{"split": split, **counts} for split, counts in manifest["counts"].items()]
    budget = f"full build, {args.workers} worker processes, {os.cpu_count()} CPU cores: {seconds:.1f} s wall time"
    novel = "\n".join(
        f"| {p['dataset']} | {p['content']} | {p['style']} | {p['motions']} |" for p in manifest["test_novel_pairs"]
    )
    dropped = manifest["dropped_clips"]
    notes = (
        f"Clips read: {manifest['source']['clips_read']}; clips dropped ({dropped['reason']}): {dropped['count']} "
        f"— by content: {dropped['by_content']}.\n\n"
        f"SMPL-X fit (FK of the fitted parameters vs new_joints): mean {manifest['smplx_fit_error_m']['mean'] * 100:.1f} cm, "
        f"max {manifest['smplx_fit_error_m']['max'] * 100:.1f} cm.\n\n"
        "test_novel pairs (motions per pair):\n\n| dataset | content | style | motions |\n|---|---|---|---|\n" + novel
    )
    meta = results_meta(budget=budget, wall_seconds=round(seconds, 1), parameters=manifest["parameters"],
                        source_sha256=manifest["source"]["sha256"])
    write_results(args.results, rows, meta, title="BandaiML: build statistics", notes=notes,
                  columns=["split", "clips", "motions", "frames", "hours"])
    print(f"built in {seconds:.1f} s; wrote {args.results}.json/.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
