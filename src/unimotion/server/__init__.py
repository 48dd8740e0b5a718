"""``unimotion serve``: a small web app and JSON API over the shipped pipelines.

Framework: FastAPI (on Starlette) served by uvicorn — an ASGI server with an OpenAPI schema for free
(``/api/openapi.json``); the page is plain HTML + an ES module using three.js (vendored from the npm
registry by ``scripts/setup_web.sh``, see ``static/vendor/README.md``). The page calls only the JSON API,
so everything it does can be scripted (``docs/serve.md`` lists the endpoints and limits).

Modules:

``config``    :class:`ServerConfig`: every limit (prompt, motion and upload sizes, queue, time limit)
``jobs``      :class:`JobQueue`: one worker thread, a bounded number of waiting jobs ("busy" past it),
              a per-request time limit
``uploads``   upload checks (size, type by extension *and* content) and the server-owned temporary files
``results``   :class:`ResultStore` (bounded, in memory) and the BVH / GIF / NPZ exports of a result
``models``    :class:`ModelRegistry`: loads each pipeline once (lazily) and runs the tasks
``app``       :func:`create_app`: the routes, the JSON error answers and the static page
"""
