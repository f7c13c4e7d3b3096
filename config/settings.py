"""Modelgate settings: one module, driven by the environment.

With nothing set it runs the embedded default: SQLite, local file storage and Celery tasks
executed in-process. MODELGATE_MODE=production switches on the hardened settings that
`manage.py check --deploy` expects and refuses to start without a real SECRET_KEY.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.env import envbool, envint, envlist, envsecret, envstr
from config.s3 import s3_storage

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(envstr("MODELGATE_VAR_DIR", str(BASE_DIR / "var")))

MODE = envstr("MODELGATE_MODE", "development")
if MODE not in {"development", "production"}:
    raise ImproperlyConfigured(f"MODELGATE_MODE={MODE!r} must be 'development' or 'production'")
PRODUCTION = MODE == "production"

SECRET_KEY = envsecret("SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY (or SECRET_KEY_FILE) must be set in production mode")
    SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0123456789abcdefghijklmnop"

DEBUG = envbool("DEBUG", not PRODUCTION)
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", [])

# Demo data (seed_demo and its well-known passwords) only ever exists outside production.
DEMO_MODE = envbool("MODELGATE_DEMO", not PRODUCTION)
if PRODUCTION and DEMO_MODE:
    raise ImproperlyConfigured("MODELGATE_DEMO cannot be enabled in production mode")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "axes",
    "accounts",
    "registry",
    "lineage",
    "monitoring",
    "cards",
    "ninja",  # serves the API docs' Swagger UI from its package, not a CDN
    "api",
    "mlflow_api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Every page needs a signed-in user unless its view is marked @login_not_required.
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "accounts.middleware.AuditContextMiddleware",
    "registry.middleware.VaryOnHtmxMiddleware",
    # API errors no endpoint answers (unknown path, wrong method) in the API's JSON body.
    "api.middleware.JsonErrorsMiddleware",
    # Last, as django-axes asks: turns a sign-in refused for lockout into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "registry.context_processors.navigation",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://…) or the embedded SQLite file.
DATABASE_URL = envstr("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "modelgate.sqlite3",
            "OPTIONS": {
                # IMMEDIATE takes the write lock up front, so concurrent registrations queue
                # instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "TEST": {"NAME": VAR_DIR / "test-modelgate.sqlite3"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in: django-axes checks the lockout first, then Django checks the password. Every
# sign-in over HTTP passes the request, which axes needs (the test client's `login()` must
# pass one too: `client.login(request=HttpRequest(), ...)`; `force_login` is unaffected).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failed sign-ins for one username from one address lock that pair out for 15
# minutes (each further failure restarts the wait); a successful sign-in clears them.
AXES_ENABLED = True
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
AXES_VERBOSE = False
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# collectstatic target; only production serves from it (WhiteNoise), development uses finders.
STATIC_ROOT = envstr("STATIC_ROOT") or (BASE_DIR / "staticfiles" if PRODUCTION else None)
WHITENOISE_USE_FINDERS = not PRODUCTION

# Storage: hot artifacts under the "artifacts" alias, cold copies of retired versions under
# "archive"; each a local directory unless its S3 bucket is configured.
MEDIA_ROOT = Path(envstr("MODELGATE_ARTIFACT_DIR", str(VAR_DIR / "artifacts")))
ARCHIVE_ROOT = Path(envstr("MODELGATE_ARCHIVE_DIR", str(VAR_DIR / "archive")))
_S3 = {
    "endpoint_url": envstr("AWS_S3_ENDPOINT_URL"),
    "region_name": envstr("AWS_S3_REGION_NAME"),
    "aws_access_key_id": envsecret("AWS_ACCESS_KEY_ID"),
    "aws_secret_access_key": envsecret("AWS_SECRET_ACCESS_KEY"),
}
ARTIFACTS_S3_BUCKET = envstr("ARTIFACTS_S3_BUCKET")
ARCHIVE_S3_BUCKET = envstr("ARCHIVE_S3_BUCKET")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "artifacts": (
        s3_storage(ARTIFACTS_S3_BUCKET, envstr("ARTIFACTS_S3_PREFIX", "artifacts"), **_S3)
        if ARTIFACTS_S3_BUCKET
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
        }
    ),
    "archive": (
        s3_storage(
            ARCHIVE_S3_BUCKET,
            envstr("ARCHIVE_S3_PREFIX", "archive"),
            storage_class=envstr("ARCHIVE_S3_STORAGE_CLASS"),
            **_S3,
        )
        if ARCHIVE_S3_BUCKET
        else {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": ARCHIVE_ROOT, "base_url": None},
        }
    ),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Limits on what clients may send (bad input is rejected with a message naming the limit).
MODELGATE_MAX_ARTIFACT_BYTES = envint("MODELGATE_MAX_ARTIFACT_BYTES", 5 * 1024**3)
MODELGATE_MAX_METADATA_BYTES = envint("MODELGATE_MAX_METADATA_BYTES", 1024**2)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024**2  # larger files spool to disk, never to memory
DATA_UPLOAD_MAX_NUMBER_FILES = 1000
DATA_UPLOAD_MAX_NUMBER_FIELDS = 5000

# Celery: with REDIS_URL it talks to workers; without, tasks run in-process.
REDIS_URL = envstr("REDIS_URL")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", 3600),
    # An unreachable broker fails an enqueue in seconds (the sweep re-enqueues later),
    # not after the system's TCP timeout.
    "socket_connect_timeout": envint("CELERY_BROKER_CONNECT_TIMEOUT", 3),
}
# Queues: one per kind of slow work, so each can get its own workers (README, "Scaling
# out"). A worker started without --queues consumes them all.
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", "webhooks", "render", "archive")]
CELERY_TASK_ROUTES = {
    "registry.tasks.deliver_webhook": {"queue": "webhooks"},
    # Rendering (lineage graphs, …) and archive/restore copies, whichever app defines them.
    "*.render_*": {"queue": "render"},
    "*.archive_*": {"queue": "archive"},
    "*.restore_*": {"queue": "archive"},
}
# Periodic work, run by one `celery -A config beat` next to the workers (without a broker,
# `runserver` runs it in a thread: config/inprocess_beat.py; MODELGATE_INPROCESS_BEAT=0 stops it).
INPROCESS_BEAT = envbool("MODELGATE_INPROCESS_BEAT", True)
CELERY_BEAT_SCHEDULE = {
    # Webhook deliveries whose message was lost (broker down, worker killed): re-enqueue.
    "sweep-webhooks": {"task": "registry.tasks.sweep_webhooks", "schedule": 60.0},
    # Lineage render jobs whose message was lost or whose worker died: re-enqueue.
    "sweep-render-jobs": {"task": "lineage.tasks.sweep_render_jobs", "schedule": 60.0},
    # Monitors over live metrics: breaches alert and open retrain requests.
    "evaluate-monitors": {
        "task": "monitoring.tasks.evaluate_monitors",
        "schedule": envint("MODELGATE_MONITOR_SECONDS", 60),
    },
    "sweep-live-metrics": {"task": "monitoring.tasks.sweep_live_metrics", "schedule": 3600.0},
    # Archive/restore jobs whose message was lost or whose worker died: re-enqueue.
    "archive-sweep-jobs": {"task": "registry.tasks.archive_sweep_jobs", "schedule": 60.0},
    # Retention policies (registry.archiving): cold versions get archive jobs.
    "archive-retention-sweep": {
        "task": "registry.tasks.archive_retention_sweep",
        "schedule": envint("MODELGATE_RETENTION_SWEEP_SECONDS", 3600),
    },
    # Upload sessions older than a day (interrupted, never attached) and their bytes.
    "expire-uploads": {
        "task": "registry.tasks.expire_uploads",
        "schedule": envint("MODELGATE_UPLOAD_SWEEP_SECONDS", 3600),
    },
    "expire-promotion-requests": {
        "task": "registry.tasks.expire_promotion_requests",
        "schedule": envint("MODELGATE_EXPIRY_SWEEP_SECONDS", 300),
    },
}

# Archive/restore jobs (registry.archiving): a running job without progress for this long
# lost its worker and is handed out again; failed attempts are retried this many times.
MODELGATE_JOB_STALE_SECONDS = envint("MODELGATE_JOB_STALE_SECONDS", 300)
MODELGATE_JOB_MAX_ATTEMPTS = envint("MODELGATE_JOB_MAX_ATTEMPTS", 5)
MODELGATE_JOB_RETRY_SECONDS = envint("MODELGATE_JOB_RETRY_SECONDS", 10)
# Test-only: seconds to sleep after each copied chunk, so fault tests can kill mid-copy.
MODELGATE_ARCHIVE_CHUNK_DELAY = float(envstr("MODELGATE_ARCHIVE_CHUNK_DELAY", "0") or 0)

if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

# Email (review requests and decisions): printed to the console unless SMTP is configured.
_MAIL_BACKEND = envstr(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
_MAIL_OPTIONS: dict[str, object] = {}
if _MAIL_BACKEND.endswith("smtp.EmailBackend"):
    _MAIL_OPTIONS = {
        "host": envstr("EMAIL_HOST", "localhost"),
        "port": envint("EMAIL_PORT", 25),
        "username": envstr("EMAIL_HOST_USER"),
        "password": envsecret("EMAIL_HOST_PASSWORD"),
        "use_tls": envbool("EMAIL_USE_TLS", False),
    }
MAILERS = {"default": {"BACKEND": _MAIL_BACKEND, "OPTIONS": _MAIL_OPTIONS}}
DEFAULT_FROM_EMAIL = envstr("DEFAULT_FROM_EMAIL", "modelgate@localhost")
# Where links in emails and webhook payloads point.
# Live metrics: raw points are kept this long; hourly rollups (long charts) longer.
LIVE_METRICS_RETENTION_DAYS = envint("MODELGATE_LIVE_METRICS_RETENTION_DAYS", 30)
LIVE_ROLLUP_RETENTION_DAYS = envint("MODELGATE_LIVE_ROLLUP_RETENTION_DAYS", 730)
MODELGATE_BASE_URL = envstr("MODELGATE_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

# Security: hardened in production mode (what `check --deploy` asks for).
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 14 * 24 * 3600  # two weeks, then sign in again
SESSION_EXPIRE_AT_BROWSER_CLOSE = False
CSRF_COOKIE_HTTPONLY = True  # htmx sends the token from the page (hx-headers), not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", True)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": envstr("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "axes": {"level": "WARNING"},  # it logs every sign-in at INFO
    },
}
