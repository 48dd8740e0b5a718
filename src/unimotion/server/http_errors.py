"""The one error type the API raises on purpose; every answer it gives is ``{"error": {code, message}}``."""

from __future__ import annotations


class ApiError(Exception):
    """An error answer: HTTP ``status``, a stable machine-readable ``code`` and a message for people."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        self.status = int(status)
        self.code = code
        self.message = message
        self.headers = headers or {}
        super().__init__(message)

    def body(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}
