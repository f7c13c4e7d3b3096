"""The STORAGES entry for an S3 bucket (artifacts or archive), shared by settings and tests."""

from __future__ import annotations

from typing import Any


def s3_storage(
    bucket: str,
    prefix: str,
    *,
    endpoint_url: str | None = None,
    region_name: str | None = None,
    aws_access_key_id: str | None = None,
    aws_secret_access_key: str | None = None,
    storage_class: str = "",
) -> dict[str, Any]:
    """Keys left empty fall back to boto3's own chain (instance role, ~/.aws, env)."""
    return {
        "BACKEND": "registry.storage.S3ArtifactStorage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": prefix,
            "endpoint_url": endpoint_url or None,
            "region_name": region_name or None,
            "access_key": aws_access_key_id or None,
            "secret_key": aws_secret_access_key or None,
            # Blobs are content-addressed: a name is never reused for other bytes.
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "object_parameters": {"StorageClass": storage_class} if storage_class else {},
        },
    }
