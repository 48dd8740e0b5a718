"""Loopback load test of ``unimotion serve``: a bounded number of requests at fixed concurrency, 127.0.0.1 only.

For each ``--max-pending`` value (default: 4, the server's default, and 8, the client concurrency) it starts
the server (``python -m unimotion.cli serve --max-pending N``, otherwise default settings: one worker thread,
shipped checkpoints) on a free port of 127.0.0.1, waits until the UniMotion pipeline is loaded, warms up
(``--warmup`` generations, enough to fill the server's result store so that memory is at its steady state),
then sends ``--requests`` requests from ``--concurrency`` client threads, each right after the previous
answer — after a "busy" answer, once its ``Retry-After`` has passed (at most ``--busy-backoff`` s); the
refused request is not retried, it counts as one of the requests. 7 in 10 requests are ``POST /api/generate``
(``--seconds`` long motions, different seeds), 2 in 10 download the BVH of the latest result, 1 in 10 is
``GET /api/info``.

Reported per kind and overall: answers 200, "busy" answers (503 with ``Retry-After``: the documented answer
when the queue is full), errors (anything else, and transport failures), latency p50 / p95 / max of the 200
answers, and the throughput of 200 answers. The server's resident memory (``VmRSS`` of its process) is read
after the warm-up, after half of the requests and at the end, and sampled every 0.25 s for the maximum.
Writes ``docs/results/load_test.json`` + ``.md``.

    python benchmarks/load_test.py                                   # 200 requests, concurrency 8, queue 4 and 8
    python benchmarks/load_test.py --requests 40 --concurrency 4 --max-pending 2 --out /tmp/load

Bounded: at most ``--requests`` requests, a per-request time-out, an overall ``--time-limit`` after which no
new request starts, and only loopback addresses (``--url`` must point at 127.0.0.0/8, ::1 or localhost).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_local = threading.local()
PROMPTS = ["a person walks forward happily", "a person waves the right hand", "a person bows politely",
           "a person runs in a circle", "a person kicks with the left leg"]


def is_loopback(url: str) -> bool:
    host = urllib.parse.urlparse(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url: str, body: dict | None = None, timeout: float = 120.0) -> tuple[int, bytes, float]:
    """(status, body, seconds); status 0 = transport failure. A 503 answer's Retry-After is kept in
    ``request.retry_after`` of the calling thread."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            payload = resp.read()
            return resp.status, payload, time.perf_counter() - start
    except urllib.error.HTTPError as exc:
        _local.retry_after = exc.headers.get("Retry-After")
        return exc.code, exc.read(), time.perf_counter() - start
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return 0, str(exc).encode(), time.perf_counter() - start


def start_server(port: int, extra: list[str]) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               PYTHONPATH=os.pathsep.join([str(REPO / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    cmd = [sys.executable, "-m", "unimotion.cli", "-q", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def wait_ready(base: str, proc: subprocess.Popen | None, timeout: float = 600.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise SystemExit(f"the server exited with code {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        status, payload, _ = request(base + "/api/info", timeout=5)
        if status == 200 and json.loads(payload)["models"]["unimotion"]["loaded"]:
            return
        time.sleep(0.25)
    raise SystemExit(f"the server at {base} was not ready within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    k = (len(values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarise(name: str, records: list[dict], wall_s: float) -> dict:
    ok = [r["seconds"] for r in records if r["status"] == 200]
    busy = sum(r["status"] == 503 and r.get("code") == "busy" for r in records)
    sec = lambda v: None if v is None else round(v, 4)  # noqa: E731
    return {"kind": name, "requests": len(records), "ok": len(ok), "busy": busy,
            "errors": len(records) - len(ok) - busy, "p50_s": sec(percentile(ok, 50)), "p95_s": sec(percentile(ok, 95)),
            "max_s": sec(max(ok) if ok else None), "ok_per_s": round(len(ok) / wall_s, 3) if wall_s > 0 else None}


def run_load(base: str, pid: int | None, proc: subprocess.Popen | None, args: argparse.Namespace) -> dict:
    """Warm up, send the requests, read the memory; returns records, wall time, memory and job counters."""
    wait_ready(base, proc)
    print(f"server ready at {base}; warming up with {args.warmup} generations")
    latest: list[str] = []
    for i in range(args.warmup):
        status, payload, _ = request(base + "/api/generate",
                                     {"prompt": PROMPTS[i % len(PROMPTS)], "seconds": args.seconds, "seed": 10_000 + i})
        if status == 200:
            latest.append(json.loads(payload)["id"])
    if not latest:
        raise SystemExit("no warm-up request succeeded")

    samples: list[float] = []
    stop = threading.Event()

    def monitor():
        while not stop.is_set():
            if pid is not None and (v := rss_mb(pid)) is not None:
                samples.append(v)
            stop.wait(0.25)

    rss_before = rss_mb(pid) if pid else None
    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    records: list[dict] = []
    lock = threading.Lock()
    rss_mid: list[float | None] = []
    counter = iter(range(args.requests))
    started = time.monotonic()

    def client():
        while time.monotonic() - started < args.time_limit:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            slot = i % 10
            if slot < 7:
                kind = "generate"
                status, payload, sec = request(base + "/api/generate", {
                    "prompt": PROMPTS[i % len(PROMPTS)], "seconds": args.seconds, "seed": i})
            elif slot < 9:
                kind = "download_bvh"
                status, payload, sec = request(f"{base}/api/motions/{latest[-1]}/bvh")
            else:
                kind = "info"
                status, payload, sec = request(base + "/api/info")
            code = None
            if status != 200:
                try:
                    code = json.loads(payload)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = f"non-JSON answer: {payload[:80]!r}"
            elif kind == "generate":
                with lock:
                    latest.append(json.loads(payload)["id"])
                    del latest[:-4]
            with lock:
                records.append({"kind": kind, "status": status, "code": code, "seconds": sec})
                if len(records) == args.requests // 2 and pid:
                    rss_mid.append(rss_mb(pid))
            if code == "busy":  # a polite client: wait as told (at most --busy-backoff s) before the next one
                try:
                    wait = float(getattr(_local, "retry_after", None) or args.busy_backoff)
                except ValueError:
                    wait = args.busy_backoff
                time.sleep(min(wait, args.busy_backoff))

    with ThreadPoolExecutor(args.concurrency) as pool:
        for f in [pool.submit(client) for _ in range(args.concurrency)]:
            f.result()
    wall = time.monotonic() - started
    time.sleep(0.5)  # let the last background work settle before the final reading
    rss_after = rss_mb(pid) if pid else None
    stop.set()
    mon.join(2)
    health = json.loads(request(base + "/api/health")[1])
    rnd = lambda v: None if v is None else round(v, 1)  # noqa: E731
    memory = {"rss_before_mb": rnd(rss_before), "rss_mid_mb": rnd(rss_mid[0] if rss_mid else None),
              "rss_after_mb": rnd(rss_after), "rss_max_mb": rnd(max(samples) if samples else None)}
    if rss_before is not None and rss_after is not None:
        memory["growth_mb"] = rnd(rss_after - rss_before)
        if rss_mid and rss_mid[0] is not None:
            memory["growth_second_half_mb"] = rnd(rss_after - rss_mid[0])
    return {"records": records, "wall": wall, "memory": memory, "jobs": health.get("jobs"),
            "max_pending": health.get("max_pending")}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=200, help="requests per scenario (default 200)")
    p.add_argument("--concurrency", type=int, default=8, help="client threads (default 8)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of the generated motions (default 2 s)")
    p.add_argument("--warmup", type=int, default=40, help="generations before measuring (default 40)")
    p.add_argument("--max-pending", type=int, nargs="+", default=[4, 8],
                   help="one scenario per value: the started server's --max-pending (default 4 = the server's "
                        "default, and 8 = the client concurrency)")
    p.add_argument("--time-limit", type=float, default=900.0, help="no new request after this many seconds")
    p.add_argument("--busy-backoff", type=float, default=1.0,
                   help="after a busy answer a client waits Retry-After seconds, at most this long (default 1)")
    p.add_argument("--url", default=None, help="an already running server (loopback only); default: start one")
    p.add_argument("--pid", type=int, default=None, help="with --url: the server's process id, for its memory")
    p.add_argument("--server-args", default="", help="extra `unimotion serve` options for the started server")
    p.add_argument("--out", default=str(REPO / "docs" / "results" / "load_test"), help="output stem (.json/.md)")
    args = p.parse_args(argv)
    if not (1 <= args.requests <= 10_000 and 1 <= args.concurrency <= 64):
        p.error("--requests must be in 1..10000 and --concurrency in 1..64")
    if args.url and not is_loopback(args.url):
        p.error(f"--url {args.url}: only loopback addresses (127.0.0.0/8, ::1, localhost) are allowed")

    # a SIGTERM (e.g. `timeout`) must still stop the server this script started: exit through the finally blocks
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load_before = os.getloadavg()
    runs = []
    for pending in ([None] if args.url else args.max_pending):
        proc = None
        if args.url:
            base, pid = args.url.rstrip("/"), args.pid
        else:
            port = free_port()
            base = f"http://127.0.0.1:{port}"
            proc = start_server(port, ["--max-pending", str(pending), *args.server_args.split()])
            pid = proc.pid
        assert is_loopback(base)
        try:
            runs.append(run_load(base, pid, proc, args))
        finally:
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)

    rows, memory, jobs, error_codes = [], {}, {}, {}
    for run in runs:
        label = str(run["max_pending"])
        records, wall = run["records"], run["wall"]
        for kind in ("all", "generate", "download_bvh", "info"):
            subset = records if kind == "all" else [r for r in records if r["kind"] == kind]
            rows.append({"max_pending": run["max_pending"], **summarise(kind, subset, wall),
                         "wall_s": round(wall, 1) if kind == "all" else None})
        memory[label], jobs[label] = run["memory"], run["jobs"]
        for r in records:
            if r["status"] != 200 and not (r["status"] == 503 and r["code"] == "busy"):
                key = f"max_pending={label}: {r['status']} {r['code']}"
                error_codes[key] = error_codes.get(key, 0) + 1

    sys.path.insert(0, str(REPO / "src"))
    from unimotion.evaluation.reports import markdown_table, results_meta, write_results

    meta = results_meta(
        budget=f"{args.requests} requests at concurrency {args.concurrency} per scenario, loopback only",
        requests=args.requests, concurrency=args.concurrency, motion_seconds=args.seconds, warmup=args.warmup,
        busy_backoff_s=args.busy_backoff, server="started by this script" if not args.url else "given by --url",
        server_args=args.server_args or "default settings", server_jobs=jobs, errors_by_code=error_codes,
        memory=memory, machine_load_average={"before": [round(x, 2) for x in load_before],
                                             "after": [round(x, 2) for x in os.getloadavg()]})
    columns = ["max_pending", "kind", "requests", "ok", "busy", "errors", "p50_s", "p95_s", "max_s", "ok_per_s",
               "wall_s"]
    mem_lines = "\n".join(
        f"* max_pending={k}: after warm-up {m['rss_before_mb']} MB, after half the requests {m['rss_mid_mb']} MB, at "
        f"the end {m['rss_after_mb']} MB, maximum {m['rss_max_mb']} MB (growth over the run {m.get('growth_mb')} MB, "
        f"over the second half {m.get('growth_second_half_mb')} MB)" for k, m in memory.items())
    notes = (
        "One server per scenario (`unimotion serve --max-pending N`, otherwise default settings: one worker thread, "
        "shipped checkpoints). Latency in seconds: 200 answers only (p50/p95/max, including the wait in the queue). `busy` = 503 "
        "with Retry-After, the server's documented answer when its job queue (running + waiting, `--max-pending`) is "
        f"full; a client then waits Retry-After seconds (at most {args.busy_backoff:g} s) before its next request and "
        "does not retry the refused one. `errors` = any other status or a transport failure "
        f"({sum(error_codes.values())} in all). `ok_per_s` = 200 answers per second of the scenario's wall time.\n\n"
        f"Server memory (VmRSS of the server process):\n\n{mem_lines}\n\n"
        f"Machine load average (1, 5, 15 min) before: {meta['machine_load_average']['before']}, after: "
        f"{meta['machine_load_average']['after']} (the machine is shared: timings depend on what else runs).\n"
    )
    json_path, md_path = write_results(args.out, rows, meta, "`unimotion serve` under load (loopback)", columns,
                                       notes=notes, digits=3)
    print(markdown_table(rows, columns, digits=3))
    print(f"memory: {memory}; errors: {error_codes or 'none'}")
    print(f"wrote {json_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
