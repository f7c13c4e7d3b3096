"""Demo content for `manage.py seed_demo`: teams, personas and a catalogue of models whose
versions are generated deterministically (fixed seeds) with realistic metadata.

Everything here is plain data and pure functions; the command does the database work through
`registry.services`, so demo versions are registered exactly like real ones.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import random
import zlib
from dataclasses import dataclass, field
from typing import Any

from registry.versioning import Scheme, compose_hybrid

SEED = 20240611
DEMO_PASSWORD = "demo"

TEAMS = [
    ("Fraud", "fraud", "Card, payment and chargeback fraud models."),
    ("Growth", "growth", "Churn, lifetime value, recommendations and demand forecasting."),
    ("Vision", "vision", "Computer vision and language models for catalogue and support."),
]

# (username, first name, last name, role); the role "admin" means site admin, no membership.
USERS = [
    ("admin", "Ada", "Admin", "admin"),
    ("maintainer", "Morgan", "Maintainer", "maintainer"),
    ("reviewer", "Riley", "Reviewer", "reviewer"),
    ("reviewer2", "Robin", "Reviewer", "reviewer"),
    ("contributor", "Casey", "Contributor", "contributor"),
    ("viewer", "Vic", "Viewer", "viewer"),
]


@dataclass(frozen=True)
class MetricSpec:
    """A metric whose value moves from `worst` to `best` as the model matures."""

    name: str
    worst: float
    best: float
    splits: tuple[str, ...] = ("train", "validation", "test")
    decimals: int = 4

    @property
    def lower_is_better(self) -> bool:
        return self.best < self.worst


@dataclass(frozen=True)
class ParamSpec:
    """A tuned hyperparameter: ints/floats drift inside [low, high]; choices rotate."""

    name: str
    low: float = 0
    high: float = 0
    kind: str = "float"  # float | int | choice
    choices: tuple[Any, ...] = ()


@dataclass(frozen=True)
class ModelSpec:
    team: str
    name: str
    framework: str
    framework_package: str  # the pip name whose version is the framework version
    task_type: str
    scheme: str
    versions: int
    summary: str
    tags: dict[str, str]
    metrics: tuple[MetricSpec, ...]
    fixed_params: dict[str, Any]
    tuned_params: tuple[ParamSpec, ...]
    inputs: tuple[tuple[str, str, list[Any] | None], ...]
    outputs: tuple[tuple[str, str, list[Any] | None], ...]
    weights_file: str
    entry_point: str
    gpu: bool = False
    production: bool = True
    extra_markdown: str = ""
    label_file: tuple[str, str] | None = None  # (path, content) shared by every version
    packages: tuple[str, ...] = field(default_factory=tuple)


LATENCY = MetricSpec("p95_latency_ms", 48.0, 21.0, ("business",), 1)

MODELS: list[ModelSpec] = [
    ModelSpec(
        team="fraud",
        name="card-fraud-xgb",
        framework="xgboost",
        framework_package="xgboost",
        task_type="classification",
        scheme=Scheme.SEMANTIC,
        versions=46,
        summary="Scores every card authorisation for fraud risk in under 30 ms.",
        tags={
            "owner": "fraud-ml",
            "domain": "payments",
            "pii": "true",
            "tier": "1",
            "oncall": "fraud-oncall",
        },
        metrics=(
            MetricSpec("auc", 0.861, 0.947),
            MetricSpec("average_precision", 0.41, 0.63),
            MetricSpec("recall_at_1pct_fpr", 0.38, 0.61),
            MetricSpec("log_loss", 0.092, 0.051),
            LATENCY,
            MetricSpec("fraud_caught_usd_k", 812.0, 1390.0, ("business",), 1),
        ),
        fixed_params={
            "objective": "binary:logistic",
            "eval_metric": "aucpr",
            "tree_method": "hist",
            "grow_policy": "depthwise",
            "seed": 42,
            "booster": "gbtree",
            "n_features": 143,
        },
        tuned_params=(
            ParamSpec("n_estimators", 300, 1400, "int"),
            ParamSpec("max_depth", 4, 10, "int"),
            ParamSpec("learning_rate", 0.02, 0.15),
            ParamSpec("subsample", 0.6, 0.95),
            ParamSpec("colsample_bytree", 0.5, 0.9),
            ParamSpec("min_child_weight", 1, 12, "int"),
            ParamSpec("gamma", 0.0, 2.0),
            ParamSpec("reg_alpha", 0.0, 1.0),
            ParamSpec("reg_lambda", 0.5, 5.0),
            ParamSpec("scale_pos_weight", 20, 120, "int"),
            ParamSpec("max_bin", 128, 512, "int"),
            ParamSpec("early_stopping_rounds", 20, 80, "int"),
            ParamSpec(
                "sampling", kind="choice", choices=("none", "undersample_0.1", "undersample_0.05")
            ),
        ),
        inputs=(
            ("amount", "double", None),
            ("merchant_category", "string", None),
            ("card_age_days", "long", None),
            ("country", "string", None),
            ("txn_count_24h", "long", None),
            ("avg_amount_30d", "double", None),
        ),
        outputs=(("fraud_probability", "double", None),),
        weights_file="model/model.ubj",
        entry_point="pipelines/train_xgb.py:main",
        packages=("xgboost", "scikit-learn", "shap", "category-encoders", "mlflow-skinny"),
        extra_markdown=(
            "## Decision thresholds\n\n"
            "| threshold | action | expected FPR |\n| --- | --- | --- |\n"
            "| `>= 0.92` | decline | 0.1 % |\n| `>= 0.70` | step-up (3-D Secure) | 0.8 % |\n"
            "| `< 0.70` | approve | — |\n"
        ),
    ),
    ModelSpec(
        team="fraud",
        name="txn-anomaly-autoencoder",
        framework="pytorch",
        framework_package="torch",
        task_type="anomaly_detection",
        scheme=Scheme.TIMESTAMP,
        versions=32,
        summary="Autoencoder over merchant transaction streams; flags unusual bursts.",
        tags={"owner": "fraud-ml", "domain": "payments", "pii": "false", "tier": "2"},
        metrics=(
            MetricSpec("auc_pr", 0.31, 0.58),
            MetricSpec("precision_at_100", 0.42, 0.77),
            MetricSpec("reconstruction_loss", 0.041, 0.017),
            MetricSpec("alerts_per_day", 410.0, 160.0, ("business",), 0),
        ),
        fixed_params={
            "architecture": "dense-autoencoder",
            "optimizer": "adamw",
            "activation": "gelu",
            "seed": 7,
            "window_minutes": 60,
        },
        tuned_params=(
            ParamSpec("epochs", 20, 120, "int"),
            ParamSpec("batch_size", kind="choice", choices=(256, 512, 1024)),
            ParamSpec("learning_rate", 0.0002, 0.003),
            ParamSpec("weight_decay", 0.0, 0.05),
            ParamSpec("latent_dim", 8, 48, "int"),
            ParamSpec("hidden_layers", 2, 5, "int"),
            ParamSpec("dropout", 0.0, 0.3),
            ParamSpec("threshold_quantile", 0.990, 0.999),
            ParamSpec("warmup_steps", 100, 2000, "int"),
        ),
        inputs=(("features", "float32", [-1, 64]),),
        outputs=(("reconstruction_error", "float32", [-1]),),
        weights_file="model/model.pt",
        entry_point="anomaly/train.py",
        gpu=True,
        packages=("torch", "lightning", "torchmetrics", "pyarrow", "polars"),
    ),
    ModelSpec(
        team="fraud",
        name="chargeback-risk-lgbm",
        framework="lightgbm",
        framework_package="lightgbm",
        task_type="classification",
        scheme=Scheme.GIT,
        versions=21,
        summary="Predicts which disputed payments will end in a chargeback.",
        tags={
            "owner": "disputes",
            "domain": "payments",
            "pii": "true",
            "tier": "3",
            "status": "experimental",
        },
        metrics=(
            MetricSpec("auc", 0.71, 0.83),
            MetricSpec("f1", 0.44, 0.61),
            MetricSpec("brier_score", 0.19, 0.13),
        ),
        fixed_params={
            "objective": "binary",
            "boosting_type": "gbdt",
            "seed": 1,
            "metric": "auc",
            "verbosity": -1,
        },
        tuned_params=(
            ParamSpec("num_leaves", 15, 255, "int"),
            ParamSpec("learning_rate", 0.01, 0.1),
            ParamSpec("n_estimators", 200, 1500, "int"),
            ParamSpec("feature_fraction", 0.5, 0.95),
            ParamSpec("bagging_fraction", 0.5, 0.95),
            ParamSpec("bagging_freq", 1, 10, "int"),
            ParamSpec("min_data_in_leaf", 10, 200, "int"),
            ParamSpec("lambda_l1", 0.0, 2.0),
            ParamSpec("lambda_l2", 0.0, 5.0),
            ParamSpec("max_depth", -1, 12, "int"),
        ),
        inputs=(
            ("dispute_reason", "string", None),
            ("amount", "double", None),
            ("merchant_tenure_days", "long", None),
            ("prior_disputes", "long", None),
        ),
        outputs=(("chargeback_probability", "double", None),),
        weights_file="model/model.txt",
        entry_point="chargeback/train.py",
        production=False,
        packages=("lightgbm", "scikit-learn", "optuna", "shap"),
    ),
    ModelSpec(
        team="growth",
        name="churn-predictor",
        framework="sklearn",
        framework_package="scikit-learn",
        task_type="classification",
        scheme=Scheme.SEMANTIC,
        versions=38,
        summary="Weekly churn propensity for every active subscriber.",
        tags={"owner": "growth-ds", "domain": "subscriptions", "pii": "true", "tier": "2"},
        metrics=(
            MetricSpec("auc", 0.74, 0.86),
            MetricSpec("accuracy", 0.81, 0.89),
            MetricSpec("precision", 0.52, 0.71),
            MetricSpec("recall", 0.48, 0.66),
            MetricSpec("log_loss", 0.44, 0.31),
            MetricSpec("retention_uplift_pct", 0.4, 2.1, ("business",), 2),
        ),
        fixed_params={
            "estimator": "HistGradientBoostingClassifier",
            "random_state": 0,
            "class_weight": "balanced",
            "calibration": "isotonic",
        },
        tuned_params=(
            ParamSpec("max_iter", 100, 600, "int"),
            ParamSpec("learning_rate", 0.03, 0.2),
            ParamSpec("max_leaf_nodes", 15, 63, "int"),
            ParamSpec("min_samples_leaf", 10, 80, "int"),
            ParamSpec("l2_regularization", 0.0, 1.0),
            ParamSpec("max_bins", 63, 255, "int"),
            ParamSpec("validation_fraction", 0.1, 0.2),
            ParamSpec("n_iter_no_change", 10, 30, "int"),
            ParamSpec("lookback_weeks", 8, 26, "int"),
            ParamSpec("feature_set", kind="choice", choices=("v3", "v4", "v5")),
        ),
        inputs=(
            ("tenure_months", "long", None),
            ("plan", "string", None),
            ("sessions_7d", "long", None),
            ("support_tickets_90d", "long", None),
            ("discount_active", "boolean", None),
        ),
        outputs=(("churn_probability", "double", None),),
        weights_file="model/model.joblib",
        entry_point="churn/train.py",
        packages=("scikit-learn", "joblib", "imbalanced-learn", "mlflow-skinny"),
        extra_markdown="<script>alert(1)</script>\n\n"
        "The line above is a script tag typed into the description: it must show as text "
        "(or vanish), never run.\n",
    ),
    ModelSpec(
        team="growth",
        name="ltv-regressor",
        framework="lightgbm",
        framework_package="lightgbm",
        task_type="regression",
        scheme=Scheme.HYBRID,
        versions=26,
        summary="12-month customer lifetime value, used for acquisition bidding.",
        tags={"owner": "growth-ds", "domain": "marketing", "pii": "false", "tier": "2"},
        metrics=(
            MetricSpec("rmse", 61.0, 38.5, ("train", "validation", "test"), 2),
            MetricSpec("mae", 29.0, 18.2, ("train", "validation", "test"), 2),
            MetricSpec("r2", 0.52, 0.74),
            MetricSpec("mape", 0.41, 0.27),
            MetricSpec("bid_roi", 1.08, 1.37, ("business",), 3),
        ),
        fixed_params={
            "objective": "tweedie",
            "tweedie_variance_power": 1.4,
            "seed": 11,
            "boosting_type": "gbdt",
        },
        tuned_params=(
            ParamSpec("num_leaves", 31, 127, "int"),
            ParamSpec("learning_rate", 0.02, 0.08),
            ParamSpec("n_estimators", 400, 2000, "int"),
            ParamSpec("feature_fraction", 0.6, 0.9),
            ParamSpec("min_data_in_leaf", 20, 150, "int"),
            ParamSpec("lambda_l2", 0.0, 3.0),
            ParamSpec("horizon_days", kind="choice", choices=(365,)),
            ParamSpec("cohort_months", 6, 18, "int"),
        ),
        inputs=(
            ("first_order_value", "double", None),
            ("channel", "string", None),
            ("country", "string", None),
            ("orders_30d", "long", None),
        ),
        outputs=(("ltv_12m", "double", None),),
        weights_file="model/model.txt",
        entry_point="ltv/train.py",
        packages=("lightgbm", "scikit-learn", "pyarrow", "duckdb"),
    ),
    ModelSpec(
        team="growth",
        name="demand-forecast",
        framework="prophet",
        framework_package="prophet",
        task_type="forecasting",
        scheme=Scheme.TIMESTAMP,
        versions=18,
        summary="Daily order volume per region, 8 weeks ahead, for staffing.",
        tags={"owner": "planning", "domain": "operations", "pii": "false", "tier": "3"},
        metrics=(
            MetricSpec("mape", 0.142, 0.071, ("validation", "test")),
            MetricSpec("smape", 0.131, 0.069, ("validation", "test")),
            MetricSpec("coverage_80", 0.66, 0.81, ("validation", "test")),
            MetricSpec("staffing_error_pct", 9.5, 4.1, ("business",), 2),
        ),
        fixed_params={
            "growth": "linear",
            "yearly_seasonality": True,
            "weekly_seasonality": True,
            "holidays": "country_holidays",
            "interval_width": 0.8,
        },
        tuned_params=(
            ParamSpec("changepoint_prior_scale", 0.01, 0.5),
            ParamSpec("seasonality_prior_scale", 1.0, 15.0),
            ParamSpec("holidays_prior_scale", 1.0, 12.0),
            ParamSpec("n_changepoints", 15, 40, "int"),
            ParamSpec("seasonality_mode", kind="choice", choices=("additive", "multiplicative")),
            ParamSpec("history_days", 365, 1095, "int"),
            ParamSpec("horizon_days", kind="choice", choices=(56,)),
            ParamSpec("regions", kind="choice", choices=(12, 14, 16)),
            ParamSpec("mcmc_samples", kind="choice", choices=(0, 300)),
            ParamSpec("uncertainty_samples", 500, 1500, "int"),
        ),
        inputs=(("ds", "datetime", None), ("region", "string", None)),
        outputs=(
            ("yhat", "double", None),
            ("yhat_lower", "double", None),
            ("yhat_upper", "double", None),
        ),
        weights_file="model/model.json",
        entry_point="forecast/fit.py",
        packages=("prophet", "cmdstanpy", "holidays", "statsmodels"),
    ),
    ModelSpec(
        team="growth",
        name="product-recs-two-tower",
        framework="tensorflow",
        framework_package="tensorflow",
        task_type="recommendation",
        scheme=Scheme.HYBRID,
        versions=24,
        summary="Two-tower retrieval model behind the home page carousel.",
        tags={
            "owner": "recsys",
            "domain": "ecommerce",
            "pii": "false",
            "tier": "1",
            "oncall": "recsys-oncall",
        },
        metrics=(
            MetricSpec("recall_at_50", 0.21, 0.37),
            MetricSpec("ndcg_at_10", 0.091, 0.164),
            MetricSpec("hit_rate_at_10", 0.18, 0.31),
            MetricSpec("loss", 5.9, 4.6, ("train", "validation"), 3),
            MetricSpec("ctr_uplift_pct", 0.2, 3.4, ("business",), 2),
            MetricSpec("p95_latency_ms", 31.0, 14.0, ("business",), 1),
        ),
        fixed_params={
            "architecture": "two-tower",
            "optimizer": "adagrad",
            "negatives": "in-batch",
            "seed": 3,
        },
        tuned_params=(
            ParamSpec("embedding_dim", 32, 128, "int"),
            ParamSpec("tower_layers", 1, 4, "int"),
            ParamSpec("learning_rate", 0.01, 0.2),
            ParamSpec("batch_size", kind="choice", choices=(2048, 4096, 8192)),
            ParamSpec("epochs", 3, 12, "int"),
            ParamSpec("temperature", 0.05, 0.5),
            ParamSpec("l2", 0.0, 0.001),
            ParamSpec("item_vocab_size", 80000, 250000, "int"),
            ParamSpec("user_history_len", 20, 100, "int"),
            ParamSpec("candidate_sampling", kind="choice", choices=("uniform", "log_q")),
        ),
        inputs=(("user_id", "string", None), ("recent_items", "string", [-1, 50])),
        outputs=(("item_ids", "string", [-1, 50]), ("scores", "float32", [-1, 50])),
        weights_file="model/saved_model.pb",
        entry_point="recs/train.py",
        gpu=True,
        packages=("tensorflow", "tensorflow-recommenders", "scann", "keras"),
    ),
    ModelSpec(
        team="vision",
        name="defect-detector",
        framework="pytorch",
        framework_package="torch",
        task_type="object_detection",
        scheme=Scheme.SEMANTIC,
        versions=42,
        summary="Finds scratches, dents and missing parts on the packing-line cameras.",
        tags={
            "owner": "vision-eng",
            "domain": "manufacturing",
            "pii": "false",
            "tier": "1",
            "hardware": "jetson-orin",
        },
        metrics=(
            MetricSpec("map_50", 0.61, 0.86),
            MetricSpec("map_50_95", 0.38, 0.61),
            MetricSpec("precision", 0.72, 0.91),
            MetricSpec("recall", 0.66, 0.88),
            MetricSpec("box_loss", 1.42, 0.71, ("train", "validation"), 3),
            MetricSpec("p95_latency_ms", 38.0, 17.0, ("business",), 1),
        ),
        fixed_params={
            "architecture": "yolov8m",
            "optimizer": "sgd",
            "seed": 0,
            "pretrained": "coco",
            "mosaic": True,
        },
        tuned_params=(
            ParamSpec("epochs", 80, 300, "int"),
            ParamSpec("imgsz", kind="choice", choices=(640, 768, 960)),
            ParamSpec("batch", kind="choice", choices=(16, 32, 64)),
            ParamSpec("lr0", 0.002, 0.02),
            ParamSpec("lrf", 0.005, 0.05),
            ParamSpec("momentum", 0.85, 0.95),
            ParamSpec("weight_decay", 0.0002, 0.001),
            ParamSpec("warmup_epochs", 1, 5, "int"),
            ParamSpec("box", 5.0, 9.0),
            ParamSpec("cls", 0.3, 0.8),
            ParamSpec("hsv_h", 0.0, 0.03),
            ParamSpec("fliplr", 0.0, 0.5),
            ParamSpec("conf_threshold", 0.2, 0.45),
            ParamSpec("iou_threshold", 0.5, 0.7),
        ),
        inputs=(("image", "uint8", [-1, 3, 960, 960]),),
        outputs=(
            ("boxes", "float32", [-1, 300, 4]),
            ("scores", "float32", [-1, 300]),
            ("labels", "int64", [-1, 300]),
        ),
        weights_file="weights/best.pt",
        entry_point="detector/train.py --config configs/line.yaml",
        gpu=True,
        label_file=(
            "labels.json",
            json.dumps(
                {"0": "scratch", "1": "dent", "2": "missing_part", "3": "label_misprint"}, indent=2
            ),
        ),
        packages=(
            "torch",
            "torchvision",
            "ultralytics",
            "opencv-python-headless",
            "albumentations",
        ),
    ),
    ModelSpec(
        team="vision",
        name="catalog-embeddings",
        framework="transformers",
        framework_package="transformers",
        task_type="embedding",
        scheme=Scheme.GIT,
        versions=16,
        summary="Multilingual sentence embeddings of product titles for search and dedup.",
        tags={
            "owner": "search",
            "domain": "ecommerce",
            "pii": "false",
            "tier": "2",
            "base-model": "intfloat/multilingual-e5-base",
        },
        metrics=(
            MetricSpec("recall_at_10", 0.71, 0.86, ("validation", "test")),
            MetricSpec("mrr", 0.52, 0.69, ("validation", "test")),
            MetricSpec("contrastive_loss", 0.93, 0.41, ("train", "validation"), 3),
            MetricSpec("dedup_precision", 0.88, 0.96, ("business",)),
        ),
        fixed_params={
            "base_model": "intfloat/multilingual-e5-base",
            "pooling": "mean",
            "max_seq_length": 128,
            "seed": 5,
            "fp16": True,
        },
        tuned_params=(
            ParamSpec("learning_rate", 0.00001, 0.00005),
            ParamSpec("epochs", 1, 5, "int"),
            ParamSpec("per_device_train_batch_size", kind="choice", choices=(64, 128, 256)),
            ParamSpec("warmup_ratio", 0.0, 0.1),
            ParamSpec("weight_decay", 0.0, 0.05),
            ParamSpec("temperature", 0.01, 0.1),
            ParamSpec("hard_negatives", 0, 7, "int"),
            ParamSpec("gradient_accumulation_steps", 1, 4, "int"),
        ),
        inputs=(("text", "string", [-1]),),
        outputs=(("embedding", "float32", [-1, 768]),),
        weights_file="model/model.safetensors",
        entry_point="embeddings/finetune.py",
        gpu=True,
        production=False,
        packages=(
            "transformers",
            "torch",
            "sentence-transformers",
            "datasets",
            "accelerate",
            "tokenizers",
            "safetensors",
        ),
    ),
    ModelSpec(
        team="vision",
        name="ticket-intent-onnx",
        framework="onnx",
        framework_package="onnx",
        task_type="classification",
        scheme=Scheme.HYBRID,
        versions=14,
        summary="Routes support tickets to queues; exported to ONNX for the Go gateway.",
        tags={"owner": "support-ml", "domain": "support", "pii": "true", "tier": "2"},
        metrics=(
            MetricSpec("macro_f1", 0.68, 0.84),
            MetricSpec("accuracy", 0.79, 0.91),
            MetricSpec("cross_entropy", 0.71, 0.34, ("train", "validation", "test"), 3),
            MetricSpec("p95_latency_ms", 12.0, 4.5, ("business",), 1),
            MetricSpec("auto_routed_pct", 41.0, 67.0, ("business",), 1),
        ),
        fixed_params={
            "exported_from": "distilbert-base-multilingual-cased",
            "opset": 17,
            "quantization": "dynamic-int8",
            "seed": 9,
        },
        tuned_params=(
            ParamSpec("learning_rate", 0.00002, 0.00006),
            ParamSpec("epochs", 2, 6, "int"),
            ParamSpec("max_length", kind="choice", choices=(128, 256)),
            ParamSpec("batch_size", kind="choice", choices=(32, 64)),
            ParamSpec("label_smoothing", 0.0, 0.15),
            ParamSpec("num_labels", kind="choice", choices=(18, 21, 23)),
            ParamSpec("warmup_steps", 0, 500, "int"),
            ParamSpec("dropout", 0.05, 0.2),
            ParamSpec("weight_decay", 0.0, 0.02),
            ParamSpec("min_confidence", 0.5, 0.8),
        ),
        inputs=(("input_ids", "int64", [-1, 256]), ("attention_mask", "int64", [-1, 256])),
        outputs=(("logits", "float32", [-1, 23]),),
        weights_file="model/model.onnx",
        entry_point="intent/export_onnx.py",
        production=True,
        label_file=("queues.txt", "billing\nshipping\nreturns\naccount\nfraud\nother\n"),
        packages=("onnx", "onnxruntime", "transformers", "torch", "optimum", "tokenizers"),
    ),
    ModelSpec(
        team="vision",
        name="support-reply-summarizer",
        framework="transformers",
        framework_package="transformers",
        task_type="text_generation",
        scheme=Scheme.SEMANTIC,
        versions=12,
        summary="Summarises long support threads for agents (LoRA on a 7B model).",
        tags={
            "owner": "support-ml",
            "domain": "support",
            "pii": "true",
            "tier": "3",
            "license": "apache-2.0",
        },
        metrics=(
            MetricSpec("rouge_l", 0.31, 0.44, ("validation", "test")),
            MetricSpec("bertscore_f1", 0.84, 0.89, ("validation", "test")),
            MetricSpec("perplexity", 9.8, 5.9, ("train", "validation"), 2),
            MetricSpec("agent_acceptance_pct", 48.0, 71.0, ("business",), 1),
        ),
        fixed_params={
            "base_model": "mistral-7b-instruct-v0.2",
            "method": "lora",
            "target_modules": "q_proj,v_proj",
            "bf16": True,
            "seed": 21,
        },
        tuned_params=(
            ParamSpec("lora_r", 8, 64, "int"),
            ParamSpec("lora_alpha", 16, 128, "int"),
            ParamSpec("lora_dropout", 0.0, 0.1),
            ParamSpec("learning_rate", 0.00005, 0.0003),
            ParamSpec("epochs", 1, 3, "int"),
            ParamSpec("max_seq_length", kind="choice", choices=(2048, 4096)),
            ParamSpec("gradient_accumulation_steps", 4, 16, "int"),
            ParamSpec("warmup_ratio", 0.0, 0.05),
            ParamSpec("max_new_tokens", 128, 384, "int"),
            ParamSpec("temperature", 0.1, 0.7),
        ),
        inputs=(("thread", "string", [-1]),),
        outputs=(("summary", "string", [-1]),),
        weights_file="adapter/adapter_model.safetensors",
        entry_point="summarizer/sft.py",
        gpu=True,
        production=False,
        packages=(
            "transformers",
            "torch",
            "peft",
            "trl",
            "datasets",
            "accelerate",
            "bitsandbytes",
            "tokenizers",
            "safetensors",
        ),
    ),
]

# Package versions in chronological order; a version's environment picks by its date.
PACKAGE_HISTORY: dict[str, list[str]] = {
    "numpy": ["1.24.4", "1.26.2", "1.26.4", "2.0.2", "2.1.3"],
    "pandas": ["2.0.3", "2.1.4", "2.2.1", "2.2.2", "2.2.3"],
    "scipy": ["1.11.4", "1.12.0", "1.13.1", "1.14.1"],
    "pyarrow": ["14.0.2", "15.0.2", "16.1.0", "17.0.0", "18.1.0"],
    "requests": ["2.31.0", "2.32.3"],
    "pyyaml": ["6.0.1", "6.0.2"],
    "click": ["8.1.7", "8.1.8"],
    "tqdm": ["4.66.1", "4.66.4", "4.67.1"],
    "joblib": ["1.3.2", "1.4.2"],
    "cloudpickle": ["3.0.0", "3.1.0"],
    "protobuf": ["4.25.3", "5.27.2", "5.28.3"],
    "boto3": ["1.34.34", "1.34.120", "1.35.36", "1.35.76"],
    "fsspec": ["2023.12.2", "2024.3.1", "2024.6.1", "2024.10.0"],
    "pydantic": ["2.5.3", "2.7.4", "2.9.2"],
    "psutil": ["5.9.8", "6.0.0", "6.1.0"],
    "typing-extensions": ["4.9.0", "4.12.2"],
    "packaging": ["23.2", "24.1", "24.2"],
    "mlflow-skinny": ["2.10.2", "2.13.1", "2.16.2", "2.18.0"],
    "matplotlib": ["3.8.2", "3.8.4", "3.9.2"],
    "scikit-learn": ["1.3.2", "1.4.1.post1", "1.4.2", "1.5.1", "1.5.2"],
    "xgboost": ["1.7.6", "2.0.3", "2.1.0", "2.1.3"],
    "lightgbm": ["4.1.0", "4.3.0", "4.5.0"],
    "torch": ["2.1.2", "2.2.2", "2.3.1", "2.4.1", "2.5.1"],
    "torchvision": ["0.16.2", "0.17.2", "0.18.1", "0.19.1", "0.20.1"],
    "torchmetrics": ["1.2.1", "1.3.2", "1.4.0", "1.5.2"],
    "lightning": ["2.1.3", "2.2.1", "2.3.3", "2.4.0"],
    "tensorflow": ["2.14.1", "2.15.1", "2.16.2", "2.17.1", "2.18.0"],
    "keras": ["2.14.0", "2.15.0", "3.3.3", "3.5.0", "3.7.0"],
    "tensorflow-recommenders": ["0.7.3"],
    "scann": ["1.2.10", "1.3.2", "1.3.4"],
    "transformers": ["4.36.2", "4.38.2", "4.41.2", "4.44.2", "4.46.3"],
    "tokenizers": ["0.15.0", "0.15.2", "0.19.1", "0.20.3"],
    "datasets": ["2.16.1", "2.19.2", "3.0.1", "3.1.0"],
    "accelerate": ["0.25.0", "0.28.0", "0.31.0", "1.0.1", "1.1.1"],
    "safetensors": ["0.4.1", "0.4.3", "0.4.5"],
    "sentence-transformers": ["2.2.2", "2.7.0", "3.0.1", "3.3.1"],
    "peft": ["0.7.1", "0.10.0", "0.11.1", "0.13.2"],
    "trl": ["0.7.10", "0.8.6", "0.9.6", "0.12.1"],
    "bitsandbytes": ["0.42.0", "0.43.1", "0.44.1"],
    "onnx": ["1.15.0", "1.16.1", "1.17.0"],
    "onnxruntime": ["1.16.3", "1.17.3", "1.18.1", "1.20.1"],
    "optimum": ["1.16.2", "1.19.2", "1.21.4", "1.23.3"],
    "prophet": ["1.1.5", "1.1.6"],
    "cmdstanpy": ["1.2.0", "1.2.4"],
    "holidays": ["0.40", "0.48", "0.57", "0.62"],
    "statsmodels": ["0.14.1", "0.14.2", "0.14.4"],
    "shap": ["0.44.0", "0.45.1", "0.46.0"],
    "category-encoders": ["2.6.3"],
    "optuna": ["3.5.0", "3.6.1", "4.0.0", "4.1.0"],
    "imbalanced-learn": ["0.11.0", "0.12.3"],
    "polars": ["0.20.6", "0.20.31", "1.9.0", "1.16.0"],
    "duckdb": ["0.9.2", "0.10.3", "1.0.0", "1.1.3"],
    "ultralytics": ["8.0.231", "8.1.47", "8.2.58", "8.3.40"],
    "opencv-python-headless": ["4.8.1.78", "4.9.0.80", "4.10.0.84"],
    "albumentations": ["1.3.1", "1.4.8", "1.4.21"],
}
COMMON_PACKAGES = (
    "numpy",
    "pandas",
    "scipy",
    "pyarrow",
    "requests",
    "pyyaml",
    "click",
    "tqdm",
    "joblib",
    "cloudpickle",
    "protobuf",
    "boto3",
    "fsspec",
    "pydantic",
    "psutil",
    "typing-extensions",
    "packaging",
    "matplotlib",
)
PYTHON_VERSIONS = ["3.10.13", "3.11.7", "3.11.9", "3.12.4", "3.12.7"]
OS_VERSIONS = [
    "Ubuntu 22.04.3 LTS (x86_64)",
    "Ubuntu 22.04.4 LTS (x86_64)",
    "Ubuntu 24.04.1 LTS (x86_64)",
]
CPU_HOSTS = [
    {"cpu": "Intel Xeon Platinum 8375C", "cpu_count": 16, "memory_gb": 64},
    {"cpu": "AMD EPYC 7R13", "cpu_count": 32, "memory_gb": 128},
]
GPU_HOSTS = [
    {
        "cpu": "AMD EPYC 7R32",
        "cpu_count": 16,
        "memory_gb": 64,
        "gpu": "NVIDIA A10G",
        "gpu_count": 1,
        "gpu_memory_gb": 24,
        "cuda": "12.1",
    },
    {
        "cpu": "AMD EPYC 7R13",
        "cpu_count": 48,
        "memory_gb": 384,
        "gpu": "NVIDIA A100-SXM4-40GB",
        "gpu_count": 4,
        "gpu_memory_gb": 40,
        "cuda": "12.4",
    },
]
BRANCHES = ["feature/new-features", "exp/tuning", "fix/leakage", "feature/more-data"]
TRIGGERS = ["scheduled-retrain", "manual", "ci", "hpo-sweep"]


@dataclass
class PlannedVersion:
    """Everything needed to register one demo version (metadata is raw, as a client sends)."""

    index: int
    version: str
    created_at: dt.datetime
    metadata: dict[str, Any]
    files: dict[str, bytes]
    quality: float
    regression: bool = False


def stable_seed(*parts: object) -> int:
    """A seed that is the same in every process (unlike hash() of a str)."""
    return zlib.crc32("/".join(str(p) for p in parts).encode()) ^ SEED


def _pick(history: list[str], progress: float) -> str:
    return history[min(len(history) - 1, int(progress * len(history)))]


def _semantic_series(n: int, rng: random.Random) -> tuple[list[str], list[int]]:
    """A realistic release history: patches and minors, 1.0.0 via release candidates,
    one backported hotfix, and a 2.0.0 release candidate at the end.

    Returns the versions in registration order and each one's major number (signature era).
    """
    versions: list[str] = []
    majors: list[int] = []
    major, minor, patch = 0, 1, 0
    one_oh_at = max(3, n * 2 // 5)
    backport_done = False
    used: set[str] = set()

    def add(text: str, era: int) -> None:
        if text not in used and len(versions) < n:
            used.add(text)
            versions.append(text)
            majors.append(era)

    add("0.1.0", 0)
    while len(versions) < n:
        remaining = n - len(versions)
        if remaining == 1 and n >= 8:
            add(f"{major + 1}.0.0-rc.1", major + 1)
            break
        if major == 0 and len(versions) >= one_oh_at:
            add("1.0.0-rc.1", 1)
            add("1.0.0-rc.2", 1)
            major, minor, patch = 1, 0, 0
            add("1.0.0", 1)
            continue
        if rng.random() < 0.22:
            previous = (major, minor, patch)
            minor, patch = minor + 1, 0
            add(f"{major}.{minor}.{patch}", major)
            if major >= 1 and not backport_done and minor >= 2 and len(versions) < n - 2:
                # A hotfix for customers still on the previous minor: registered later,
                # sorted earlier.
                add(f"{previous[0]}.{previous[1]}.{previous[2] + 1}", major)
                backport_done = True
        else:
            patch += 1
            add(f"{major}.{minor}.{patch}", major)
    return versions, majors


def _semver_core_series(n: int, rng: random.Random) -> list[str]:
    """Plain X.Y.Z cores for hybrid versions (no pre-releases, always increasing)."""
    major, minor, patch = 1, 0, 0
    cores = []
    for i in range(n):
        if i:
            roll = rng.random()
            if roll < 0.05:
                major, minor, patch = major + 1, 0, 0
            elif roll < 0.3:
                minor, patch = minor + 1, 0
            else:
                patch += 1
        cores.append(f"{major}.{minor}.{patch}")
    return cores


def _timeline(n: int, now: dt.datetime, rng: random.Random) -> list[dt.datetime]:
    """n strictly increasing registration times spread over the past ~18 months."""
    start = now - dt.timedelta(days=rng.uniform(420, 540))
    end = now - dt.timedelta(days=rng.uniform(2, 12))
    step = (end - start) / max(1, n - 1)
    times = []
    for i in range(n):
        jitter = dt.timedelta(seconds=rng.uniform(-0.3, 0.3) * step.total_seconds())
        when = start + step * i + (jitter if 0 < i < n - 1 else dt.timedelta())
        when = when.replace(
            hour=rng.randint(7, 19),
            minute=rng.randint(0, 59),
            second=rng.randint(0, 59),
            microsecond=0,
        )
        if times and when <= times[-1]:
            when = times[-1] + dt.timedelta(minutes=rng.randint(5, 90))
        times.append(when)
    return times


def _quality(n: int, rng: random.Random) -> tuple[list[float], int]:
    """Model quality in [0, 1] per version: a learning curve with noise and one regression."""
    regression = max(2, int(n * 0.7)) if n >= 6 else -1
    values = []
    for i in range(n):
        progress = i / max(1, n - 1)
        q = 0.05 + 0.9 * (1 - math.exp(-3.2 * progress)) / (1 - math.exp(-3.2))
        q += rng.gauss(0, 0.025)
        if i == regression:
            q -= 0.3
        values.append(min(1.0, max(0.0, q)))
    return values, regression


def _metric_value(spec: MetricSpec, split: str, quality: float, rng: random.Random) -> float:
    shift = {"train": 0.12, "validation": 0.0, "test": -0.03}.get(split, 0.0)
    q = min(1.08, max(-0.1, quality + shift + rng.gauss(0, 0.015)))
    return round(spec.worst + (spec.best - spec.worst) * q, spec.decimals)


def _metrics(spec: ModelSpec, quality: float, rng: random.Random) -> dict[str, Any]:
    from registry.metadata import infer_direction

    by_split: dict[str, dict[str, Any]] = {}
    for metric in spec.metrics:
        direction = "lower" if metric.lower_is_better else "higher"
        for split in metric.splits:
            value = _metric_value(metric, split, quality, rng)
            entry: Any = value
            if infer_direction(metric.name) != direction:
                entry = {"value": value, "direction": direction}
            by_split.setdefault(split, {})[metric.name] = entry
    return by_split


def _params(spec: ModelSpec, progress: float, rng: random.Random) -> dict[str, Any]:
    params: dict[str, Any] = dict(spec.fixed_params)
    for p in spec.tuned_params:
        if p.kind == "choice":
            params[p.name] = p.choices[
                min(len(p.choices) - 1, int(progress * len(p.choices) + rng.random() * 0.6))
            ]
            continue
        # Hyperparameter search wanders around a centre that drifts over time.
        centre = p.low + (p.high - p.low) * (0.35 + 0.3 * progress)
        value = min(p.high, max(p.low, rng.gauss(centre, (p.high - p.low) * 0.15)))
        params[p.name] = int(round(value)) if p.kind == "int" else float(f"{value:.4g}")
    return params


def _environment(spec: ModelSpec, progress: float) -> dict[str, Any]:
    names = list(COMMON_PACKAGES) + [p for p in spec.packages if p not in COMMON_PACKAGES]
    packages = [f"{name}=={_pick(PACKAGE_HISTORY[name], progress)}" for name in names]
    hosts = GPU_HOSTS if spec.gpu else CPU_HOSTS
    return {
        "python": _pick(PYTHON_VERSIONS, progress),
        "os": _pick(OS_VERSIONS, progress),
        "hardware": dict(hosts[1 if progress > 0.6 else 0]),
        "packages": packages,
    }


def _signature(spec: ModelSpec, era: int) -> dict[str, Any]:
    """Inputs grow with the major version: later eras add columns."""

    def column(name: str, type_: str, shape: list[Any] | None) -> dict[str, Any]:
        col: dict[str, Any] = {"name": name, "type": type_}
        if shape is not None:
            col["shape"] = shape
        return col

    inputs = [column(*c) for c in spec.inputs]
    if len(spec.inputs) > 1:
        inputs = inputs[: max(2, len(inputs) - 2 + era)]
    return {"inputs": inputs, "outputs": [column(*c) for c in spec.outputs]}


def _readme(spec: ModelSpec) -> bytes:
    return (
        f"# {spec.name}\n\n{spec.summary}\n\n"
        f"Framework: {spec.framework}. Entry point: `{spec.entry_point}`.\n\n"
        "Load the weights with the framework's own loader; see config.json for the "
        "hyperparameters of this build.\n"
    ).encode()


def _weights(spec: ModelSpec, index: int) -> bytes:
    """A few KB of deterministic bytes; consecutive retrains share weights in threes, so
    identical files are stored once (blob deduplication)."""
    rng = random.Random(stable_seed(spec.name, "weights", index // 3))
    return b"MGDEMO\x00\x01" + rng.randbytes(rng.randint(2048, 8192))


def plan_versions(spec: ModelSpec, now: dt.datetime) -> list[PlannedVersion]:
    """Deterministic version history of one demo model (same seed, same history)."""
    rng = random.Random(stable_seed(spec.team, spec.name))
    n = spec.versions
    times = _timeline(n, now, rng)
    quality, regression = _quality(n, rng)
    commits = [f"{rng.getrandbits(160):040x}" for _ in range(n)]
    eras = [0] * n
    if spec.scheme == Scheme.SEMANTIC:
        versions, eras = _semantic_series(n, rng)
    elif spec.scheme == Scheme.GIT:
        versions = [c[:12] for c in commits]
    elif spec.scheme == Scheme.TIMESTAMP:
        versions = [t.strftime("%Y%m%d-%H%M%S") for t in times]
    else:
        cores = _semver_core_series(n, rng)
        versions = [
            compose_hybrid(core, t, c) for core, t, c in zip(cores, times, commits, strict=True)
        ]
        eras = [int(core.split(".")[0]) - 1 for core in cores]
    framework_history = PACKAGE_HISTORY.get(spec.framework_package, ["1.0.0"])
    planned = []
    for i in range(n):
        progress = i / max(1, n - 1)
        duration = dt.timedelta(minutes=rng.randint(6, 50 if not spec.gpu else 600))
        ended = times[i] - dt.timedelta(minutes=rng.randint(3, 45))
        params = _params(spec, progress, rng)
        dirty = rng.random() < 0.08
        branch = "main" if rng.random() < 0.8 else rng.choice(BRANCHES)
        tags = {
            "trigger": rng.choice(TRIGGERS),
            "run_id": f"run-{commits[i][:8]}",
            "dataset": f"{spec.tags.get('domain', 'data')}-{times[i]:%Y-%m}",
        }
        description = f"Retrained on data up to {times[i]:%d %b %Y}."
        if i == regression:
            tags["regression"] = "true"
            description = (
                f"Retrained with a new feature pipeline; **test metrics regressed** "
                f"(see the {spec.metrics[0].name} trend). Kept for the post-mortem."
            )
        if dirty:
            tags["warning"] = "dirty-worktree"
        metadata = {
            "description": description,
            "framework": spec.framework,
            "framework_version": _pick(framework_history, progress),
            "task_type": spec.task_type,
            "signature": _signature(spec, eras[i]),
            "params": params,
            "environment": _environment(spec, progress),
            "metrics": _metrics(spec, quality[i], rng),
            "code_repository": f"https://github.com/acme-ml/{spec.team}-{spec.name}",
            "code_commit": commits[i],
            "code_branch": branch,
            "code_entry_point": spec.entry_point,
            "code_dirty": dirty,
            "training_started_at": (ended - duration).isoformat(),
            "training_ended_at": ended.isoformat(),
            "tags": tags,
        }
        files = {spec.weights_file: _weights(spec, i)}
        if i % 4 != 3:
            files["config.json"] = json.dumps(params, indent=2, sort_keys=True).encode()
        if i % 2 == 0:
            files["README.md"] = _readme(spec)
        if spec.label_file and i % 3 == 0:
            files[spec.label_file[0]] = spec.label_file[1].encode()
        while len(files) > 3:
            files.popitem()
        planned.append(
            PlannedVersion(
                i, versions[i], times[i], metadata, files, quality[i], regression=i == regression
            )
        )
    return planned


def model_description(spec: ModelSpec) -> str:
    """Markdown with headings, lists, a table and inline code (rendered sanitised)."""
    first = spec.metrics[0]
    rows = "\n".join(
        f"| `{m.name}` | {', '.join(m.splits)} | {'lower' if m.lower_is_better else 'higher'} |"
        for m in spec.metrics
    )
    owner = spec.tags.get("owner", spec.team)
    return (
        f"# {spec.name}\n\n{spec.summary}\n\n"
        "## How it is used\n\n"
        f"- Served by the `{spec.name}` endpoint; callers pin the **Production** version.\n"
        f"- Retrained by the `{spec.entry_point.split()[0]}` job; every run registers a version.\n"
        f"- Owner: *{owner}* — page them before changing thresholds.\n\n"
        "## Metrics\n\n"
        "| metric | splits | better |\n| --- | --- | --- |\n"
        f"{rows}\n\n"
        f"Promotion needs `{first.name}` on **test** at least as good as Production.\n\n"
        "## Promotion checklist\n\n"
        "1. Compare with Production on every split.\n"
        "2. Check the signature: a breaking change needs a major version.\n"
        "3. Two approvals for tier-1 models.\n\n"
        f"{spec.extra_markdown}"
    )


# The fraud team's Production gates (registry.policies gate kinds and their fields).
PRODUCTION_GATES = [
    {"kind": "required_metadata", "fields": ["description", "signature"]},
    {"kind": "time_in_stage", "stage": "staging", "hours": 24},
]
CHAMPION_GUARDED_MODEL = "card-fraud-xgb"
CHAMPION_GATE = {"kind": "champion", "metric": "test.auc", "tolerance": 0.002}
REQUEST_JUSTIFICATION = (
    "Promote **{version}**: it beat the current Production version on the offline test set "
    "and ran a week in Staging on shadow traffic with no alerts."
)


@dataclass(frozen=True)
class StageEvent:
    when: dt.datetime
    index: int  # which planned version
    to_stage: str
    actor: str  # demo username
    comment: str


def _headline(spec: ModelSpec, version: PlannedVersion, split: str = "test") -> str:
    """'auc 0.9312' for the model's first metric on a split (the one reviewers look at)."""
    metric = spec.metrics[0]
    by_name = version.metadata["metrics"].get(split) or version.metadata["metrics"].get(
        metric.splits[-1], {}
    )
    raw = by_name.get(metric.name)
    value = raw["value"] if isinstance(raw, dict) else raw
    return f"{metric.name} {value}"


def plan_stage_events(
    spec: ModelSpec, planned: list[PlannedVersion], now: dt.datetime
) -> list[StageEvent]:
    """Promotion history of one model, in time order.

    Models with Production: a release every few versions (Staging, then Production two days
    later; the previous Production is archived by the transition itself), the newest one or
    two candidates in Staging. All models: the regressed version visits Staging and is sent
    back to Development, and old experiments are archived in a clean-up.
    """
    n = len(planned)
    latest = now - dt.timedelta(hours=1)
    events: list[StageEvent] = []
    day = dt.timedelta(days=1)
    regression = next((p.index for p in planned if p.regression), -1)

    def at(index: int, days: float) -> dt.datetime:
        return min(latest, planned[index].created_at + days * day)

    releases: list[int] = []
    if spec.production and n >= 4:
        count = max(2, n // 8)
        for k in range(1, count + 1):
            index = int((n - 3) * k / count)
            if index == regression:
                index -= 1
            if index not in releases and index >= 0:
                releases.append(index)
        for number, index in enumerate(releases):
            reviewer = "reviewer" if number % 2 == 0 else "reviewer2"
            events.append(
                StageEvent(
                    at(index, 1),
                    index,
                    "staging",
                    "contributor",
                    f"Release candidate: {_headline(spec, planned[index], 'validation')} "
                    "on validation; shadow traffic looks clean.",
                )
            )
            previous = releases[number - 1] if number else None
            if previous is None:
                why = f"First production release ({_headline(spec, planned[index])} on test)."
            else:
                why = (
                    f"Approved: {_headline(spec, planned[index])} on test vs "
                    f"{_headline(spec, planned[previous])} in production."
                )
            # Putting a version into service directly is a maintainer's move; the comment
            # names the reviewer who signed it off.
            why = f"{why} Signed off by {reviewer}."
            events.append(StageEvent(at(index, 3), index, "production", "maintainer", why))

    candidates = [
        i for i in range(n - 1, max(-1, n - 3), -1) if i not in releases and i != regression
    ]
    for index in candidates[: 2 if n >= 20 else 1]:
        events.append(
            StageEvent(
                at(index, 0.5),
                index,
                "staging",
                "contributor",
                f"Ready for review: {_headline(spec, planned[index])} on test.",
            )
        )

    if regression >= 0:
        events.append(
            StageEvent(
                at(regression, 0.3),
                regression,
                "staging",
                "contributor",
                "Candidate with the new feature pipeline.",
            )
        )
        events.append(
            StageEvent(
                at(regression, 1.2),
                regression,
                "development",
                "reviewer",
                f"Sent back: {_headline(spec, planned[regression])} on test is a regression; "
                "please investigate the feature pipeline before re-requesting.",
            )
        )

    cutoff = n // 3 if spec.production else n // 2
    step = 3 if spec.production else 2
    stale = [i for i in range(cutoff) if i % step == 0 and i not in releases]
    if stale:
        when = at(cutoff, 5)
        for index in stale:
            events.append(
                StageEvent(
                    when,
                    index,
                    "archived",
                    "maintainer",
                    "Clean-up: superseded experiment, kept for lineage.",
                )
            )
    return sorted(events, key=lambda e: e.when)
