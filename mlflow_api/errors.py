"""MLflow's error body, `{"error_code": ..., "message": ...}`, with its HTTP statuses."""

from __future__ import annotations

from typing import Any

from django.http import JsonResponse

INVALID_PARAMETER_VALUE = "INVALID_PARAMETER_VALUE"
RESOURCE_DOES_NOT_EXIST = "RESOURCE_DOES_NOT_EXIST"
RESOURCE_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"
PERMISSION_DENIED = "PERMISSION_DENIED"
UNAUTHENTICATED = "UNAUTHENTICATED"
INVALID_STATE = "INVALID_STATE"
ENDPOINT_NOT_FOUND = "ENDPOINT_NOT_FOUND"
BAD_REQUEST = "BAD_REQUEST"

# As mlflow.protos.databricks_pb2 codes map to statuses in mlflow.exceptions.
STATUS = {
    INVALID_PARAMETER_VALUE: 400,
    RESOURCE_DOES_NOT_EXIST: 404,
    RESOURCE_ALREADY_EXISTS: 400,
    PERMISSION_DENIED: 403,
    UNAUTHENTICATED: 401,
    INVALID_STATE: 400,
    ENDPOINT_NOT_FOUND: 404,
    BAD_REQUEST: 400,
}


class MlflowError(Exception):
    def __init__(self, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.extra = extra

    def response(self) -> JsonResponse:
        body = {"error_code": self.code, "message": self.message, **self.extra}
        response = JsonResponse(body, status=STATUS.get(self.code, 400))
        if self.code == UNAUTHENTICATED:
            response["WWW-Authenticate"] = 'Bearer realm="modelgate"'
        return response


def invalid(message: str) -> MlflowError:
    return MlflowError(INVALID_PARAMETER_VALUE, message)


def not_found(message: str) -> MlflowError:
    return MlflowError(RESOURCE_DOES_NOT_EXIST, message)
