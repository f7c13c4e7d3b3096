from __future__ import annotations

from typing import Any

from django.db import models


class ByteOrderCharField(models.CharField):
    """A CharField compared byte by byte on every database.

    Version sort keys are built so that plain byte order equals version precedence; a
    locale collation (PostgreSQL's default en_US.UTF-8) would reorder punctuation and break
    that, so PostgreSQL columns get the "C" collation. SQLite compares bytes already.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        params = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            params["collation"] = "C"
        return params
