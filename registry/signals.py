"""Signals other apps listen to, so the registry does not import them."""

from __future__ import annotations

from django.dispatch import Signal

# Sent inside the transaction of every stage change (registry.services.apply_transition),
# with version (its stage already the new one), from_stage, to_stage and actor.
stage_changed = Signal()
