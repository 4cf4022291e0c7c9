"""The FastAPI application; each area contributes a router module listed in ROUTERS."""

from __future__ import annotations

import importlib
from typing import Any

# "module:attribute" of each APIRouter factory: a function (runtime) -> fastapi.APIRouter.
ROUTERS: list[str] = [
    "lockgate.server.runs_api:router",
    "lockgate.server.triggers_api:router",
    "lockgate.server.notify_api:router",
    "lockgate.server.metrics:router",
    "lockgate.server.sfn_api:router",
    "lockgate.server.ui:router",
]


def create_app(runtime: Any = None, bind: str | None = None) -> Any:
    """The app serving `runtime` (the default runtime when None); `bind` is the address it
    listens on (a name the Host header may carry). Every route goes through
    lockgate.server.auth: tokens, roles, allowed hosts, CSRF and security headers."""
    from fastapi import FastAPI

    from lockgate import __version__
    from lockgate.runtime import default_runtime
    from lockgate.server.auth import AuthMiddleware

    runtime = runtime or default_runtime()
    # No /docs or /redoc: they load their scripts from outside the server. /openapi.json stays.
    app = FastAPI(title="lockgate", version=__version__, docs_url=None, redoc_url=None)
    app.state.runtime = runtime
    from lockgate.server.body_limit import BodyLimit, max_body_bytes

    app.add_middleware(BodyLimit, max_bytes=max_body_bytes(runtime.settings))
    for target in ROUTERS:
        module, _, name = target.partition(":")
        app.include_router(getattr(importlib.import_module(module), name)(runtime))
    from lockgate.server.ui import install_error_pages

    install_error_pages(app)
    app.add_middleware(AuthMiddleware, runtime=runtime, bind=bind)
    return app
