"""The manager's CSV import: upload up to four files, read the dry run, then confirm.

Between the dry run and the confirmation the uploaded files stay on the server, never in the
browser: each upload gets a folder named by a random token under ``IMPORT_UPLOAD_FOLDER``
(default: ``instance/imports``), readable by the app alone, with a ``meta.json`` naming the user
who uploaded it. The token is kept in the signed session cookie and repeated in the confirm
form, and the confirmation is accepted only when the two agree and the folder belongs to the
signed-in user: no path ever comes from the client. The folder is deleted when the import runs
(whatever its outcome), when the dry run finds problems, when the same session uploads other
files, and by a sweep of uploads older than ``IMPORT_UPLOAD_LIFETIME`` (an hour by default) on each upload.
Several app servers must share that folder (or route a user to one server) for the confirm
step to find the files; otherwise the user is asked to upload them again.
"""

import json
import secrets
import shutil
import time
from contextlib import ExitStack
from pathlib import Path, PurePosixPath

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    session,
    url_for,
)
from flask_login import current_user
from werkzeug.datastructures import FileStorage

from clinic.extensions import db
from clinic.forms.imports import ConfirmForm, UploadForm
from clinic.security import role_required
from clinic.services.interchange.imports import (
    COLUMNS,
    KIND_LABELS,
    KINDS,
    ImportFailed,
    import_files,
)
from clinic.views.common import clinic_zone

bp = Blueprint("imports", __name__, url_prefix="/imports")

IMPORTERS = ("manager", "admin")
SESSION_KEY = "import_upload"
PROBLEMS_SHOWN = 2000  # the command line lists any number; a page of more helps nobody
CHUNK = 1 << 20


class FileTooLarge(Exception):
    pass


def upload_root() -> Path:
    configured = current_app.config["IMPORT_UPLOAD_FOLDER"]
    return Path(configured) if configured else Path(current_app.instance_path) / "imports"


def max_file_bytes() -> int:
    return current_app.config["IMPORT_MAX_FILE_BYTES"]


def size_label(size: int) -> str:
    return f"{size / 2**20:.0f} MB" if size >= 2**20 else f"{max(1, round(size / 1024))} kB"


def lifetime_seconds() -> float:
    return current_app.config["IMPORT_UPLOAD_LIFETIME"].total_seconds()


def upload_folder(token: object) -> Path | None:
    """The folder of an upload token, or None for anything that is not a token we could issue."""
    if not isinstance(token, str) or len(token) != 32:
        return None
    if not all(c.isascii() and (c.isalnum() or c in "-_") for c in token):
        return None
    return upload_root() / token


def display_name(storage: FileStorage, kind: str) -> str:
    """The file's own name as the user chose it, for messages only (never for a path)."""
    name = PurePosixPath((storage.filename or "").replace("\\", "/")).name.strip()
    name = "".join(c for c in name if c.isprintable())[:120]
    return name or f"{kind}.csv"


def save_limited(storage: FileStorage, target: Path, limit: int) -> None:
    """Copy the upload to ``target`` in chunks, refusing it once it passes ``limit`` bytes."""
    written = 0
    with target.open("xb") as out:
        target.chmod(0o600)
        while chunk := storage.stream.read(CHUNK):
            written += len(chunk)
            if written > limit:
                raise FileTooLarge
            out.write(chunk)


def read_meta(folder: Path) -> dict | None:
    try:
        return json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def discard(folder: Path | None) -> None:
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def sweep_expired() -> None:
    """Delete uploads older than their lifetime, whoever made them."""
    root = upload_root()
    if not root.is_dir():
        return
    oldest = time.time() - lifetime_seconds()
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < oldest:
                discard(folder)
        except OSError:
            continue


def run_import(folder: Path, names: dict[str, str], dry_run: bool):
    """The service over the stored files, named as the user named them."""
    with ExitStack() as stack:
        files = {
            kind: (names[kind], stack.enter_context((folder / f"{kind}.csv").open("rb")))
            for kind in KINDS
            if kind in names
        }
        return import_files(db.session, files, dry_run, clinic_zone())


def render_index(form: UploadForm, status: int = 200):
    return render_template(
        "imports/index.html",
        form=form,
        columns=COLUMNS,
        kinds=KINDS,
        labels=KIND_LABELS,
        max_size=size_label(max_file_bytes()),
    ), status


def render_preview(report, confirm: ConfirmForm | None, upload: UploadForm | None):
    return render_template(
        "imports/preview.html",
        report=report,
        problems=report.problems[:PROBLEMS_SHOWN],
        hidden_problems=max(0, len(report.problems) - PROBLEMS_SHOWN),
        confirm=confirm,
        form=upload,
        columns=COLUMNS,
        kinds=KINDS,
        labels=KIND_LABELS,
        max_size=size_label(max_file_bytes()),
    )


@bp.route("")
@role_required(*IMPORTERS)
def index():
    """The upload form, with the columns each file needs."""
    return render_index(UploadForm())


@bp.route("/preview", methods=["POST"])
@role_required(*IMPORTERS)
def preview():
    """Store the uploaded files and dry-run them: counts per file and every problem, nothing written."""
    form = UploadForm()
    if not form.validate_on_submit():
        return render_index(form, 400)
    chosen = {
        kind: getattr(form, kind).data
        for kind in KINDS
        if isinstance(getattr(form, kind).data, FileStorage) and getattr(form, kind).data.filename
    }
    if not chosen:
        form.form_errors.append("Choose at least one file to import.")
        return render_index(form, 400)
    sweep_expired()
    discard(upload_folder(session.pop(SESSION_KEY, None)))
    token = secrets.token_urlsafe(24)
    upload_root().mkdir(mode=0o700, parents=True, exist_ok=True)
    folder = upload_root() / token
    folder.mkdir(mode=0o700)
    names = {}
    limit = max_file_bytes()
    for kind, storage in chosen.items():
        names[kind] = display_name(storage, kind)
        try:
            save_limited(storage, folder / f"{kind}.csv", limit)
        except FileTooLarge:
            discard(folder)
            getattr(form, kind).errors.append(
                f"{names[kind]} is larger than {size_label(limit)}. Split it into smaller files "
                "or use the command line (flask --app clinic import)."
            )
            return render_index(form, 400)
    meta = {"user_id": current_user.id, "created": time.time(), "names": names}
    (folder / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    try:
        report = run_import(folder, names, dry_run=True)
    except BaseException:
        discard(folder)
        raise
    db.session.rollback()
    if report.problems:
        discard(folder)
        return render_preview(report, None, UploadForm(formdata=None))
    session[SESSION_KEY] = token
    return render_preview(report, ConfirmForm(token=token), None)


@bp.route("/confirm", methods=["POST"])
@role_required(*IMPORTERS)
def confirm():
    """Import the files the dry run checked, for real, in one transaction; then delete them."""
    form = ConfirmForm()
    if not form.validate_on_submit():
        abort(400)
    token = form.token.data
    folder = upload_folder(token)
    meta = read_meta(folder) if folder is not None else None
    if (
        folder is None
        or token != session.get(SESSION_KEY)
        or meta is None
        or meta.get("user_id") != current_user.id
        or time.time() - float(meta.get("created", 0)) > lifetime_seconds()
        or not meta.get("names")
        or not set(meta["names"]) <= set(KINDS)
    ):
        flash(
            "Those files are no longer waiting to be imported (they expired, were replaced by "
            "another upload, or were already imported). Upload them again to check them.",
            "warning",
        )
        return redirect(url_for("imports.index"))
    session.pop(SESSION_KEY, None)
    try:
        report = run_import(folder, meta["names"], dry_run=False)
    except ImportFailed as error:
        db.session.rollback()
        flash(error.message, "danger")
        return redirect(url_for("imports.index"))
    finally:
        discard(folder)
    if report.problems:
        # The database changed since the dry run (someone booked the same slot, say).
        db.session.rollback()
        return render_preview(report, None, UploadForm(formdata=None))
    db.session.commit()
    summary = "; ".join(
        f"{c.name}: {c.new} new, {c.changed} changed, {c.unchanged} unchanged" for c in report.files
    )
    flash(f"Imported. {summary}.", "success")
    return redirect(url_for("imports.index"))
