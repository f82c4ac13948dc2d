"""Error bodies in the shape each API's clients expect: native, OpenAI or Perspective."""

from __future__ import annotations

from typing import Any

__all__ = ["ApiError", "error_body", "flavour"]

_GOOGLE_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

_OPENAI_CODES = {401: "invalid_api_key", 404: "not_found", 413: "request_too_large", 429: "rate_limit_exceeded"}


class ApiError(Exception):
    """An error answered to the client: HTTP status, a short machine-readable type and a message."""

    def __init__(
        self, status: int, type: str, message: str, *, param: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.type = type
        self.message = message
        self.param = param
        self.extra = extra or {}


def flavour(path: str) -> str:
    """Which API a path belongs to: ``openai``, ``perspective`` or ``native``."""
    if path == "/v1/moderations" or path.startswith("/v1/moderations/"):
        return "openai"
    if path.startswith("/v1alpha1/"):
        return "perspective"
    return "native"


def error_body(
    path: str,
    status: int,
    type: str,
    message: str,
    *,
    param: str | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of an error on ``path``.

    * native: ``{"error": {"type", "message", ...extra}}``
    * OpenAI: ``{"error": {"message", "type", "param", "code"}}``; a request the API would call
      invalid is a 400 ``invalid_request_error``
    * Perspective: ``{"error": {"code", "message", "status"}}`` (Google API errors); invalid requests are 400
    """
    kind = flavour(path)
    if kind == "openai":
        if status == 422:
            status = 400
        if status >= 500:
            error_type = "server_error"
        elif status == 401:
            error_type = "invalid_request_error"
        else:
            error_type = "invalid_request_error"
        code = _OPENAI_CODES.get(status, type)
        return status, {"error": {"message": message, "type": error_type, "param": param, "code": code}}
    if kind == "perspective":
        if status == 422:
            status = 400
        return status, {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}
    return status, {"error": {"type": type, "message": message, **(extra or {})}}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """The ``openapi_extra`` of an endpoint that reads its JSON body itself: a required body of ``schema``."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
