from __future__ import annotations

from django.urls import path

from cards import views
from registry import converters  # noqa: F401 -- registers the path converters

VERSION = "models/<slug:team>/<model_name:name>/versions/<version:version>/"

urlpatterns = [
    path(VERSION + "card/", views.card_detail, name="model-card"),
    path(VERSION + "card/edit/", views.card_edit, name="model-card-edit"),
    path(VERSION + "card.md", views.card_markdown, name="model-card-markdown"),
]
