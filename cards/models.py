"""A model card per version: what people write (intended use, out-of-scope uses,
limitations, ethical considerations, caveats); what Modelgate already knows is assembled
when the card is shown (cards.assemble)."""

from __future__ import annotations

from django.conf import settings
from django.db import models

# (field, title, what to write): the sections contributors edit, in the card's order.
SECTIONS = (
    ("intended_use", "Intended use",
     "Who should use the model, for what decisions, on which population and inputs."),
    ("out_of_scope", "Out-of-scope uses",
     "Uses it was not designed or evaluated for, and should not be put to."),
    ("limitations", "Limitations",
     "Where it is known to perform worse: segments, data shifts, edge cases."),
    ("ethical_considerations", "Ethical considerations",
     "Sensitive attributes, fairness checks, privacy, possible harms and mitigations."),
    ("caveats", "Caveats and recommendations",
     "Anything else a user, reviewer or auditor should know before relying on it."),
)  # fmt: skip
MAX_SECTION = 20_000


class ModelCard(models.Model):
    version = models.OneToOneField(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="card"
    )
    intended_use = models.TextField(blank=True)
    out_of_scope = models.TextField(blank=True)
    limitations = models.TextField(blank=True)
    ethical_considerations = models.TextField(blank=True)
    caveats = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"model card of {self.version}"
