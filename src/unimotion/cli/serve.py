"""``unimotion serve``: the web app — type a prompt, watch the motion in 3D, download BVH / GIF / NPZ.

    unimotion serve                      # http://127.0.0.1:8000
    unimotion serve --host 0.0.0.0 --port 8080 --checkpoint checkpoints/unimotion_bandaiml

The page (``/``) calls only the JSON API under ``/api`` (OpenAPI schema: ``/api/openapi.json``;
``docs/serve.md`` documents every endpoint, limit and error code). Every model the project ships is on it:
UniMotion (text → motion, caption, continue, edit), UniMo (capture from a video, animate an image) and the
retrieval evaluator (match score). The shipped checkpoints were trained on BandaiML (CC BY-NC 4.0):
non-commercial use only; the page says so.

Limits keep the server alive: prompt length, motion length, upload size and type, a bounded job queue
(503 "busy" past it) and a per-request time limit (504). One worker thread runs the models with
``--threads`` torch threads. The 3D viewer needs three.js, vendored from the npm registry by
``bash scripts/setup_web.sh`` (run by ``scripts/setup_env.sh``).
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("serve", help="web app + JSON API: text → 3D motion in the browser, uploads, downloads",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--checkpoint", default=None,
                   help="UniMotion pipeline directory (default: the repository's checkpoints/unimotion_bandaiml)")
    p.add_argument("--unimo-checkpoint", default=None,
                   help="UniMo pipeline directory (default: checkpoints/unimo_bandaiml)")
    p.add_argument("--evaluator-checkpoint", default=None,
                   help="retrieval evaluator directory (default: checkpoints/evaluator_bandaiml)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the worker (default 1)")
    p.add_argument("--max-pending", type=int, default=4,
                   help="jobs running + waiting before requests are answered 503 busy (default 4)")
    p.add_argument("--timeout", type=float, default=60.0, help="per-request time limit in seconds (default 60)")
    p.add_argument("--max-seconds", type=float, default=10.0, help="longest motion a request may ask for (default 10)")
    p.add_argument("--max-upload-mb", type=float, default=16.0, help="largest request body in MiB (default 16)")
    p.add_argument("--no-preload", action="store_true",
                   help="load the UniMotion pipeline on the first request instead of at start-up")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default info)")
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace):
    from ..errors import InputError
    from ..server.config import ServerConfig

    if not 0 < args.port < 65536:
        raise InputError(f"--port must be in 1..65535, got {args.port}")
    if args.threads is not None and args.threads < 1:
        raise InputError(f"--threads must be >= 1, got {args.threads}")
    kwargs = {}
    for name in ("checkpoint", "unimo_checkpoint", "evaluator_checkpoint"):
        value = getattr(args, name)
        if value is not None:
            key = "unimotion_checkpoint" if name == "checkpoint" else name
            kwargs[key] = value
    upload = int(args.max_upload_mb * 2**20)
    try:
        cfg = ServerConfig(device=args.device, torch_threads=args.threads, max_pending=args.max_pending,
                           job_timeout_s=args.timeout, max_seconds=args.max_seconds, max_upload_bytes=upload,
                           max_motion_upload_bytes=min(upload, 8 * 2**20), max_video_upload_bytes=upload,
                           preload=not args.no_preload, **kwargs)
    except ValueError as exc:
        raise InputError(str(exc)) from exc
    if not cfg.unimotion_checkpoint.is_dir():
        raise InputError(f"--checkpoint {cfg.unimotion_checkpoint}: no such folder")
    return cfg


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ..server.app import create_app, vendored_three_missing

    cfg = build_config(args)
    missing = vendored_three_missing()
    if missing:
        print(f"warning  : three.js is not vendored ({', '.join(missing)} missing): the page cannot show the 3D "
              "viewer until `bash scripts/setup_web.sh` has run; the JSON API works")
    print(f"unimotion: serving on http://{args.host}:{args.port}/  (API: /api, schema: /api/openapi.json)")
    print("note     : the shipped checkpoints were trained on BandaiML (CC BY-NC 4.0): non-commercial use only")
    uvicorn.run(create_app(cfg), host=args.host, port=args.port, log_level=args.log_level, workers=1,
                timeout_graceful_shutdown=5)
    return 0
