"""Configuration classes for Clinic, chosen by ``CLINIC_ENV`` (development, testing, production)."""

import os
from datetime import timedelta


def _int(name: str, default: int) -> int:
    """A whole number from the environment; anything else stops the app saying which setting."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    if not (value.isascii() and value.isdigit()):
        raise RuntimeError(f"{name} must be a whole number (not {value!r}).")
    return int(value)


def _flag(name: str, default: bool) -> bool | str:
    """``true`` / ``false`` from the environment; any other text is kept as it is, for the
    command that uses it to refuse with a message (a class body must not raise)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return {"true": True, "false": False}.get(value, os.environ[name])


class Config:
    """Settings shared by every environment; each one reads ``os.environ`` where it may vary."""

    ENV_NAME = "base"
    SECRET_KEY = os.environ.get("SECRET_KEY")
    SQLALCHEMY_DATABASE_URI = os.environ.get("DATABASE_URL")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    CLINIC_TIMEZONE = os.environ.get("CLINIC_TIMEZONE", "UTC")

    # Sessions: a browser-session cookie, no remember-me, HttpOnly and SameSite=Lax.
    SESSION_COOKIE_NAME = "clinic_session"
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    SESSION_COOKIE_SECURE = False
    IDLE_TIMEOUT = timedelta(minutes=_int("CLINIC_IDLE_TIMEOUT_MINUTES", 15))
    ABSOLUTE_TIMEOUT = timedelta(hours=_int("CLINIC_ABSOLUTE_TIMEOUT_HOURS", 12))

    # Failed sign-in throttling, counted in the database so it holds across app processes.
    LOGIN_THROTTLE_WINDOW = timedelta(minutes=_int("CLINIC_LOGIN_THROTTLE_MINUTES", 15))
    LOGIN_MAX_FAILURES_PER_ACCOUNT = _int("CLINIC_LOGIN_MAX_FAILURES_PER_ACCOUNT", 5)
    LOGIN_MAX_FAILURES_PER_ADDRESS = _int("CLINIC_LOGIN_MAX_FAILURES_PER_ADDRESS", 20)

    # Argon2id at argon2-cffi's RFC 9106 "low memory" profile: 64 MiB, t=3, p=4.
    ARGON2_TIME_COST = 3
    ARGON2_MEMORY_COST_KIB = 65536
    ARGON2_PARALLELISM = 4

    # Referral triage: a referral still `received` after this many days is overdue.
    REFERRAL_OVERDUE_DAYS_URGENT = _int("CLINIC_REFERRAL_OVERDUE_DAYS_URGENT", 2)
    REFERRAL_OVERDUE_DAYS_ROUTINE = _int("CLINIC_REFERRAL_OVERDUE_DAYS_ROUTINE", 14)

    # The manager's CSV upload: files wait between the dry run and the confirmation in a folder
    # of their own under IMPORT_UPLOAD_FOLDER (None: the instance folder's ``imports``).
    IMPORT_UPLOAD_FOLDER = os.environ.get("CLINIC_IMPORT_UPLOAD_FOLDER") or None
    IMPORT_MAX_FILE_BYTES = _int("CLINIC_IMPORT_MAX_FILE_MB", 100) * 2**20
    IMPORT_UPLOAD_LIFETIME = timedelta(minutes=_int("CLINIC_IMPORT_UPLOAD_LIFETIME_MINUTES", 60))

    # The system of the MRN in FHIR Patient.identifier, on the web download and `export fhir`.
    FHIR_MRN_SYSTEM = os.environ.get("CLINIC_FHIR_MRN_SYSTEM", "urn:clinic:mrn")

    # Self-report links: the key their tokens are derived under (None: derived from SECRET_KEY;
    # changing it ends every link), and the base of every link a patient receives (sheet, QR,
    # email); None: the address the request came to.
    CLINIC_LINK_KEY = os.environ.get("CLINIC_LINK_KEY") or None
    CLINIC_PUBLIC_URL = os.environ.get("CLINIC_PUBLIC_URL") or None
    # Guesses at /r/ per address: from the 21st invalid link in 15 minutes, 429.
    LINK_GUESS_WINDOW = timedelta(minutes=15)
    LINK_MAX_GUESSES_PER_ADDRESS = 20

    # Reminder emails (`reminders send`): the SMTP server, as Flask's mail extensions name it,
    # and the clinic's name, which with the link is all an email says.
    MAIL_SERVER = os.environ.get("MAIL_SERVER", "localhost")
    MAIL_PORT = _int("MAIL_PORT", 25)
    MAIL_USE_TLS = _flag("MAIL_USE_TLS", False)
    MAIL_USE_SSL = False
    MAIL_USERNAME = os.environ.get("MAIL_USERNAME") or None
    MAIL_PASSWORD = os.environ.get("MAIL_PASSWORD") or None
    MAIL_DEFAULT_SENDER = os.environ.get("MAIL_DEFAULT_SENDER", "clinic@localhost")
    MAIL_TIMEOUT = _int("MAIL_TIMEOUT", 30)  # seconds before an unanswering server is a failure
    CLINIC_NAME = os.environ.get("CLINIC_NAME", "The pain clinic")

    PROXY_COUNT = _int("CLINIC_PROXY_COUNT", 0)  # proxies in front that set X-Forwarded-For
    PATIENTS_PER_PAGE = 25
    BOOTSTRAP_SERVE_LOCAL = True
    BOOTSTRAP_BOOTSWATCH_THEME = None
    WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the signed-in session
    MAX_CONTENT_LENGTH = 256 * 1024 * 1024
    PREFERRED_URL_SCHEME = "http"
    # Under TESTING an unexpected exception reaches the test; True shows the 500 page instead.
    SHOW_ERROR_PAGES = False


class DevelopmentConfig(Config):
    ENV_NAME = "development"


class TestingConfig(Config):
    ENV_NAME = "testing"
    TESTING = True
    # The OWASP minimum for Argon2id (19 MiB, t=2): still compliant, quicker in tests.
    ARGON2_TIME_COST = 2
    ARGON2_MEMORY_COST_KIB = 19456
    ARGON2_PARALLELISM = 1


class ProductionConfig(Config):
    ENV_NAME = "production"
    SESSION_COOKIE_SECURE = True
    PREFERRED_URL_SCHEME = "https"


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}
