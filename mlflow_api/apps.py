from __future__ import annotations

from django.apps import AppConfig


class MlflowApiConfig(AppConfig):
    name = "mlflow_api"
    verbose_name = "MLflow compatibility"
    default_auto_field = "django.db.models.BigAutoField"
