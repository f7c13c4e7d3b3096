"""Lazy access to the storages named in settings.STORAGES."""

from __future__ import annotations

from typing import Any

from django.core.files.storage import Storage, storages
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.functional import LazyObject, empty


class _ArtifactStorage(LazyObject):
    def _setup(self) -> None:
        self._wrapped = storages["artifacts"]


artifact_storage: Storage = _ArtifactStorage()  # type: ignore[assignment]


@receiver(setting_changed)
def _reset_on_storages_change(*, setting: str, **kwargs: Any) -> None:
    if setting == "STORAGES":
        artifact_storage._wrapped = empty  # type: ignore[attr-defined]
