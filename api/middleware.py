"""Every error under /api/v1/ in the API's error body, even those no endpoint answers.

Django answers an unknown path (404) with an HTML page, and django-ninja a method the
path does not take (405) with plain text; API clients expect JSON there too. The
endpoints' own errors are JSON already (api.errors) and pass through untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

PREFIX = "/api/v1/"
CODES = {
    400: "bad_request",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    500: "server_error",
}


class JsonErrorsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code < 400
            or not request.path.startswith(PREFIX)
            or response.get("Content-Type", "").startswith("application/json")
        ):
            return response
        return _as_json(request, response)


def _as_json(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    status = response.status_code
    allow = response.get("Allow")
    if status == 404:
        message = f"No API endpoint at {request.path}: the endpoints are listed at {PREFIX}docs."
    elif status == 405 and allow:
        methods = ", ".join(sorted(m.strip() for m in allow.split(",")))
        allow = methods
        message = f"{request.method} is not allowed here: use {methods}."
    else:
        message = response.reason_phrase
    body = {"error": {"code": CODES.get(status, "error"), "message": message, "field": None}}
    answer = JsonResponse(body, status=status)
    if allow:
        answer["Allow"] = allow
    return answer
