"""URL converters that accept exactly what the validators do, so odd bytes never reach SQL.

They are registered on import: a URL module that uses them imports this one.
"""

from __future__ import annotations

from django.urls import register_converter


class ModelNameConverter:
    regex = r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


class VersionConverter(ModelNameConverter):
    regex = r"[0-9A-Za-z.+-]{1,128}"


class ArtifactPathConverter(ModelNameConverter):
    """Like Django's "path", minus control characters (which no stored path contains)."""

    regex = r"[^\x00-\x1f\x7f]{1,1024}"


class ExportFormatConverter(ModelNameConverter):
    regex = r"csv|jsonl"


class CompareFormatConverter(ModelNameConverter):
    regex = r"md|csv"


register_converter(ModelNameConverter, "model_name")
register_converter(VersionConverter, "version")
register_converter(ArtifactPathConverter, "artifact_path")
register_converter(ExportFormatConverter, "export_format")
register_converter(CompareFormatConverter, "compare_format")
