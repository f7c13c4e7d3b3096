"""Python client for the Modelgate model registry."""

from __future__ import annotations

from modelgate_client.client import ChecksumMismatch, Client, ModelgateError

__all__ = ["ChecksumMismatch", "Client", "ModelgateError"]
__version__ = "0.1.0"
