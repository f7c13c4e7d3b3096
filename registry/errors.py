"""Domain errors that are neither bad input (ValidationError) nor a permission problem."""

from __future__ import annotations


class Conflict(Exception):
    """The action is not possible in the object's current state (HTTP 409): a closed or
    expired request, a transition the lifecycle does not allow, a policy that needs a
    request instead of a direct change."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.message = message
        self.field = field
        super().__init__(message)
