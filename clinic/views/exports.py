"""The manager's downloads: every CSV export of docs/formats.md, filtered, streamed, audited."""

from collections.abc import Iterator

from flask import Blueprint, Response, abort, render_template, request, stream_with_context

from clinic.extensions import db
from clinic.forms.exports import ExportFilterForm
from clinic.security import role_required
from clinic.services.identity.audit import Actor, current_actor, record_event
from clinic.services.interchange.exports import EXPORTS, CsvStream
from clinic.views.common import clinic_today, clinic_zone

bp = Blueprint("exports", __name__, url_prefix="/exports")

EXPORTERS = ("manager", "admin")


def render_index(form: ExportFilterForm, status: int = 200):
    return render_template(
        "exports/index.html", title="Exports", form=form, exports=list(EXPORTS.values())
    ), status


@bp.route("")
@role_required(*EXPORTERS)
def index():
    """The exports with what each holds, and the filter form whose buttons download them."""
    form = ExportFilterForm(formdata=request.args or None)
    if request.args:
        form.validate()
    return render_index(form)


@bp.route("/<name>.csv")
@role_required(*EXPORTERS)
def download(name: str):
    """One export as a CSV attachment (UTF-8 with a BOM), streamed, audited when it ends."""
    export = EXPORTS.get(name)
    if export is None:
        abort(404)
    form = ExportFilterForm(formdata=request.args)
    if not form.validate():
        return render_index(form, 400)
    stream = CsvStream(export, db.session, form.filters(), clinic_zone(), bom=True)
    response = Response(
        stream_with_context(audited(stream, current_actor(db.session))), mimetype="text/csv"
    )
    filename = f"clinic-{name}-{clinic_today().isoformat()}.csv"
    response.headers["Content-Disposition"] = f"attachment; filename={filename}"
    response.headers["Cache-Control"] = "no-store"
    return response


def audited(stream: CsvStream, actor: Actor | None) -> Iterator[str]:
    """The CSV chunks; then, however the stream ended, its audit row in a transaction of its own.

    The view has returned by then and the request's session is gone: the stream runs in a
    session of its own (``stream_with_context`` pushes the contexts again), so the actor is
    carried over from the request. The read transaction is ended first, and the audit row
    (name, filters, rows sent, whether complete) is committed alone, so that it is kept even
    when the download was cut short.
    """
    try:
        yield from stream
    finally:
        db.session.rollback()
        record_event(db.session, "export", details=stream.audit_details(), actor=actor)
        db.session.commit()
