"""The FastAPI application: the JSON API (``/api/...``), the page (``/``) and its static files (``/static``).

Every answer that is not a success is JSON ``{"error": {"code": ..., "message": ...}}`` — never a stack
trace (the server log keeps those). Codes: ``invalid_request`` (malformed request, 422), ``invalid_input``
(a value outside the limits or refused by the model, 422), ``invalid_file`` (an upload that cannot be read,
422), ``unsupported_type`` (415), ``too_large`` (413), ``not_found`` (404), ``busy`` (503 with
``Retry-After``), ``timeout`` (504), ``model_unavailable`` (503), ``internal`` (500).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from .. import __version__
from ..errors import CheckpointError, UnimotionError
from ..utils.logging import get_logger
from .config import IMAGE_SUFFIXES, MOTION_SUFFIXES, VIDEO_SUFFIXES, ServerConfig
from .http_errors import ApiError
from .jobs import Busy, JobQueue, JobTimeout
from .models import ModelRegistry
from .results import FORMATS, ID_PATTERN, ResultStore, export
from .uploads import read_upload

log = get_logger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
THREE_FILES = ("three.module.js", "three.core.js", "addons/controls/OrbitControls.js", "LICENSE")
MAX_SEED = 2**31 - 1


def vendored_three_missing() -> list[str]:
    """The vendored three.js files that are absent (``scripts/setup_web.sh`` puts them there)."""
    root = STATIC_DIR / "vendor" / "three"
    return [f for f in THREE_FILES if not (root / f).is_file()]


# ============================================================================================ schemas
class GenerateRequest(BaseModel):
    """Text → motion."""

    model_config = ConfigDict(extra="forbid")
    prompt: str = Field(..., description="what the motion shows, e.g. 'a person walks forward happily'")
    seconds: float = Field(4.0, gt=0, description="length in seconds (the model accepts 0.2–9.8 s)")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="noise seed")
    steps: int | None = Field(None, ge=1, le=200, description="Euler steps (default: the checkpoint's)")
    cfg: float | None = Field(None, ge=0, le=20, description="classifier-free guidance (default: the checkpoint's)")


class ScoreRequest(BaseModel):
    """Evaluator score of a stored motion against a text."""

    model_config = ConfigDict(extra="forbid")
    motion_id: str = Field(..., pattern=ID_PATTERN)
    text: str


class Skeleton(BaseModel):
    name: str
    joint_names: list[str]
    parents: list[int]


class MotionOut(BaseModel):
    """A motion result: joints (T, J, 3) in metres, Y up, plus download links."""

    id: str
    task: str
    model: str
    prompt: str | None
    caption: str | None
    fps: float
    num_frames: int
    seconds: float
    observed_frames: int
    skeleton: Skeleton
    downloads: dict[str, str]
    video: str | None
    notes: list[str]
    joints: list[list[list[float]]] | None = None
    elapsed_s: float | None = None


class ScoreOut(BaseModel):
    motion_id: str
    text: str
    similarity: float = Field(..., description="cosine similarity of the evaluator's text and motion embeddings")


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorOut(BaseModel):
    error: ErrorBody


ERRORS: dict[int | str, dict[str, Any]] = {s: {"model": ErrorOut} for s in (404, 413, 415, 422, 503, 504)}


# ============================================================================================ middleware
class BodyLimit:
    """Refuses request bodies over ``max_bytes`` with 413 before the app reads them (pure ASGI)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send) -> None:
        err = ApiError(413, "too_large", f"the request is larger than the limit of {self.max_bytes / 2**20:g} MiB")
        resp = JSONResponse(err.body(), status_code=413, headers={"Connection": "close"})
        await resp({"type": "http"}, None, send)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                return await self._refuse(send)
            return await self.app(scope, receive, send)
        # no Content-Length (chunked): read at most max_bytes + 1 before the app sees anything, then replay
        messages, size = [], 0
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(send)
            if not message.get("more_body", False):
                break

        async def replay():
            return messages.pop(0) if messages else await receive()

        return await self.app(scope, replay, send)


# ============================================================================================ application
def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ApiError(status, code, message).body(), status_code=status, headers=headers)


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body",)) or "request"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def create_app(config: ServerConfig | None = None) -> FastAPI:
    """The application (``uvicorn.run(create_app(cfg))``); models load on first use or at start-up."""
    config = config or ServerConfig()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state = app.state
        state.temp_dir = Path(tempfile.mkdtemp(prefix="unimotion-serve-"))
        state.models = ModelRegistry(config, state.temp_dir)

        def init_worker() -> None:
            if config.torch_threads:
                import torch

                torch.set_num_threads(int(config.torch_threads))

        state.jobs = JobQueue(config.max_pending, config.job_timeout_s, initializer=init_worker)
        if config.preload:
            state.jobs.call_soon(lambda: state.models.get("unimotion"))
        missing = vendored_three_missing()
        if missing:
            log.warning("three.js is not vendored (%s missing in %s): the page cannot show the 3D viewer; run "
                        "`bash scripts/setup_web.sh`. The JSON API works.", ", ".join(missing), STATIC_DIR / "vendor")
        try:
            yield
        finally:
            state.jobs.shutdown()
            shutil.rmtree(state.temp_dir, ignore_errors=True)

    app = FastAPI(
        title="unimotion", version=__version__, lifespan=lifespan,
        description="Text → motion, motion → text, prediction, editing (UniMotion) and capture / animation (UniMo) "
                    "over the shipped checkpoints. The shipped BandaiML checkpoints are non-commercial "
                    "(CC BY-NC 4.0). Errors: {\"error\": {\"code\", \"message\"}}.",
        openapi_url="/api/openapi.json", docs_url=None, redoc_url=None,  # the docs pages load assets from a CDN
    )
    app.state.config = config
    app.state.store = ResultStore(config.max_results)
    app.add_middleware(BodyLimit, max_bytes=config.max_upload_bytes)

    # ------------------------------------------------------------------ error answers
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError):
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers or None)

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy):
        return _error(503, "busy", str(exc), {"Retry-After": str(exc.retry_after)})

    @app.exception_handler(JobTimeout)
    async def _timeout(request: Request, exc: JobTimeout):
        return _error(504, "timeout", str(exc))

    @app.exception_handler(CheckpointError)
    async def _checkpoint(request: Request, exc: CheckpointError):
        log.error("checkpoint problem: %s", exc)
        return _error(503, "model_unavailable", "a model checkpoint could not be loaded (see the server log)")

    @app.exception_handler(UnimotionError)
    async def _unimotion_error(request: Request, exc: UnimotionError):
        return _error(422, "invalid_input", str(exc))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return _error(422, "invalid_request", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        return _error(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("internal error on %s %s", request.method, request.url.path)
        return _error(500, "internal", "internal server error (details are in the server log)")

    # ------------------------------------------------------------------ helpers
    async def run_job(request: Request, fn, *args) -> Any:
        return await request.app.state.jobs.run(fn, *args)

    def motion_answer(request: Request, result, elapsed: float | None = None) -> dict:
        request.app.state.store.add(result)
        out = result.to_json()
        out["elapsed_s"] = None if elapsed is None else round(elapsed, 3)
        return out

    # ------------------------------------------------------------------ API
    @app.get("/api/health", tags=["server"])
    async def health(request: Request) -> dict:
        """Liveness and queue state."""
        jobs = request.app.state.jobs
        return {"status": "ok", "pending_jobs": jobs.pending, "max_pending": jobs.max_pending,
                "stored_results": len(request.app.state.store), "jobs": dict(jobs.stats)}

    @app.get("/api/info", tags=["server"])
    async def info(request: Request) -> dict:
        """Version, the models (checkpoint, licence, NOTICE, tasks) and the limits."""
        return {"version": __version__, "models": request.app.state.models.info(), "limits": config.public_limits(),
                "viewer_assets": not vendored_three_missing()}

    @app.post("/api/generate", response_model=MotionOut, responses=ERRORS, tags=["UniMotion"])
    async def generate(request: Request, body: GenerateRequest) -> dict:
        """Text → motion (UniMotion)."""
        t = time.perf_counter()
        res = await run_job(request, request.app.state.models.generate, body.prompt, body.seconds, body.seed,
                            body.steps, body.cfg)
        return motion_answer(request, res, time.perf_counter() - t)

    @app.post("/api/caption", response_model=MotionOut, responses=ERRORS, tags=["UniMotion"])
    async def caption(request: Request, file: Annotated[UploadFile, File(description="a .bvh, .npy or .npz motion")]) -> dict:
        """Motion → text: describe an uploaded motion (the answer's ``caption``; the motion is shown too)."""
        up = await read_upload(file, MOTION_SUFFIXES, config.max_motion_upload_bytes, "motion file")
        t = time.perf_counter()
        res = await run_job(request, request.app.state.models.caption, up)
        return motion_answer(request, res, time.perf_counter() - t)

    @app.post("/api/predict", response_model=MotionOut, responses=ERRORS, tags=["UniMotion"])
    async def predict(request: Request, file: Annotated[UploadFile, File(description="a .bvh, .npy or .npz motion")],
                      seconds: Annotated[float | None, Form(gt=0)] = None,
                      seed: Annotated[int, Form(ge=0, le=MAX_SEED)] = 0) -> dict:
        """Continue an uploaded motion by ``seconds`` (default: the checkpoint's, 3 s)."""
        up = await read_upload(file, MOTION_SUFFIXES, config.max_motion_upload_bytes, "motion file")
        t = time.perf_counter()
        res = await run_job(request, request.app.state.models.predict, up, seconds, seed)
        return motion_answer(request, res, time.perf_counter() - t)

    @app.post("/api/edit", response_model=MotionOut, responses=ERRORS, tags=["UniMotion"])
    async def edit(request: Request, file: Annotated[UploadFile, File(description="a .bvh, .npy or .npz motion")],
                   instruction: Annotated[str, Form(description="e.g. 'now do it happily'")],
                   seconds: Annotated[float | None, Form(gt=0)] = None,
                   seed: Annotated[int, Form(ge=0, le=MAX_SEED)] = 0) -> dict:
        """Edit an uploaded motion following an instruction (length: the input's unless ``seconds``)."""
        up = await read_upload(file, MOTION_SUFFIXES, config.max_motion_upload_bytes, "motion file")
        t = time.perf_counter()
        res = await run_job(request, request.app.state.models.edit, up, instruction, seconds, seed)
        return motion_answer(request, res, time.perf_counter() - t)

    @app.post("/api/capture", response_model=MotionOut, responses=ERRORS, tags=["UniMo"])
    async def capture(request: Request,
                      file: Annotated[UploadFile, File(description="a video (.gif, .npy) or an image")],
                      keypoints: Annotated[bool, Form(description="draw the keypoint network's 2D joints on the video")] = False
                      ) -> dict:
        """Video → SMPL-X motion (UniMo motion capture; frames are taken at the model's 20 fps)."""
        up = await read_upload(file, VIDEO_SUFFIXES, config.max_video_upload_bytes, "video")
        t = time.perf_counter()
        res = await run_job(request, request.app.state.models.capture, up, keypoints)
        return motion_answer(request, res, time.perf_counter() - t)

    @app.post("/api/animate", response_model=MotionOut, responses=ERRORS, tags=["UniMo"])
    async def animate(request: Request, file: Annotated[UploadFile, File(description="an image of one figure")],
                      seed: Annotated[int, Form(ge=0, le=MAX_SEED)] = 0,
                      keypoints: Annotated[bool, Form(description="draw the keypoint network's 2D joints on the video")] = False
                      ) -> dict:
        """Image → generated video + its motion (UniMo I2VM)."""
        up = await read_upload(file, IMAGE_SUFFIXES, config.max_video_upload_bytes, "image")
        t = time.perf_counter()
        res = await run_job(request, request.app.state.models.animate, up, seed, keypoints)
        return motion_answer(request, res, time.perf_counter() - t)

    @app.post("/api/score", response_model=ScoreOut, responses=ERRORS, tags=["evaluator"])
    async def score(request: Request, body: ScoreRequest) -> dict:
        """How well a stored motion matches a text, by the shipped retrieval evaluator (cosine, −1..1)."""
        result = request.app.state.store.get(body.motion_id)
        sim = await run_job(request, request.app.state.models.score, result, body.text)
        return {"motion_id": result.id, "text": " ".join(body.text.split()), "similarity": round(sim, 4)}

    @app.get("/api/motions/{motion_id}", response_model=MotionOut, responses=ERRORS, tags=["results"])
    async def motion(request: Request, motion_id: Annotated[str, PathParam(pattern=ID_PATTERN)]) -> dict:
        """A stored result again (the server keeps the last ``max_results``)."""
        return request.app.state.store.get(motion_id).to_json()

    @app.get("/api/motions/{motion_id}/{fmt}", responses={200: {"content": {"application/octet-stream": {}}}, **ERRORS},
             tags=["results"])
    async def download(request: Request, motion_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
                       fmt: Literal["bvh", "gif", "npz", "video.gif"]) -> Response:
        """Download a result as BVH, GIF (stick figure) or NPZ; ``video.gif``: UniMo's frames."""
        result = request.app.state.store.get(motion_id)
        data = await run_job(request, export, result, fmt, request.app.state.temp_dir, config.gif_size)
        if fmt == "video.gif":
            return Response(data, media_type="image/gif")
        return Response(data, media_type=FORMATS[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{result.filename(fmt)}"'})

    # ------------------------------------------------------------------ the page
    @app.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
