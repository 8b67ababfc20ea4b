"""Patients: the people the clinic treats. Archived, never deleted."""

import unicodedata
from datetime import date, datetime

from sqlalchemy import CheckConstraint, Index, String, event, select, text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import UnaryExpression

from clinic.models.base import Base, Stamped, in_list

SEXES = ("female", "male", "other", "unknown")  # FHIR administrative-gender
CONDITIONS = (
    "herniated_disc",
    "degenerative_disc_disease",
    "spinal_stenosis",
    "facet_joint_arthritis",
    "other",
)
CONDITION_LABELS = {
    "herniated_disc": "Herniated disc",
    "degenerative_disc_disease": "Degenerative disc disease",
    "spinal_stenosis": "Spinal stenosis",
    "facet_joint_arthritis": "Facet joint arthritis",
    "other": "Other",
}


def search_key(text: str) -> str:
    """Lower-case, accent-free form of a name, so that 'Zoë' is found by 'zoe'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold().strip()


class Patient(Stamped, Base):
    """A patient of the clinic, keyed for people by a clinic-unique MRN."""

    __tablename__ = "patient"
    __table_args__ = (
        CheckConstraint(in_list("sex", SEXES), name="sex_known"),
        CheckConstraint(in_list("condition", CONDITIONS), name="condition_known"),
        # The date the patient agreed to email contact is kept only while they agree.
        CheckConstraint(
            "email_consent OR email_consent_on IS NULL", name="email_consent_on_with_consent"
        ),
        # Name search looks for each word anywhere in the key: PostgreSQL answers from a trigram
        # index (pg_trgm), which also serves the duplicate check's equality; SQLite scans the
        # short keys (a few milliseconds at 50,000 patients) and uses this b-tree for equality.
        Index(
            "ix_patient_name_key",
            "name_key",
            postgresql_using="gin",
            postgresql_ops={"name_key": "gin_trgm_ops"},
        ),
        Index("ix_patient_birth_date", "date_of_birth"),
        # The few archived patients, for "not archived" asked without reading every patient
        # (``not_archived``): the referral board and the desk's counts.
        Index(
            "ix_patient_archived",
            "id",
            sqlite_where=text("archived = 1"),
            postgresql_where=text("archived"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(20), unique=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date]
    sex: Mapped[str] = mapped_column(String(10))
    phone: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    condition: Mapped[str] = mapped_column(String(40))
    # Agreed to be emailed the self-report link at each due follow-up, and since when.
    email_consent: Mapped[bool] = mapped_column(default=False)
    email_consent_on: Mapped[date | None]
    archived: Mapped[bool] = mapped_column(default=False)
    # When the patient last checked in: the patient list shows the most recently seen first.
    last_seen_at: Mapped[datetime | None]
    # "last first", accent-free and lower-case, kept in step with the names for search.
    name_key: Mapped[str] = mapped_column(String(170))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def condition_label(self) -> str:
        return CONDITION_LABELS[self.condition]

    def __repr__(self) -> str:
        return f"<Patient {self.mrn}>"


class PrefixSearchable(UnaryExpression):
    """An index column that answers ``LIKE 'prefix%'``: PostgreSQL's pattern operator class
    (the index's ``postgresql_ops``; its default b-tree follows the collation, not the bytes) or
    SQLite's NOCASE collation (SQLite's LIKE ignores ASCII case, so only such an index serves it).
    """

    inherit_cache = True

    def __init__(self, column) -> None:
        super().__init__(column)
        self.key = column.key


class RecentFirst(UnaryExpression):
    """An index column in ``DESC NULLS LAST`` order; SQLite, whose indexes take no NULLS clause,
    already puts NULLs last in a descending index."""

    inherit_cache = True

    def __init__(self, column) -> None:
        super().__init__(column)


class LookedUpFirst(UnaryExpression):
    """A sort key that, on PostgreSQL, no index can give in order: a search that can be looked
    up (a name with three letters in a row, an MRN, a date of birth) is looked up in its own
    index and its few matches sorted, where the planner would otherwise walk the name-order
    index hoping to meet 25 matches soon (it cannot know that every "smith" sits late in the
    alphabet: 20 ms rather than 1.5 at 50,000 patients). The same column on SQLite, whose
    name-order index serves every search."""

    inherit_cache = True

    def __init__(self, column) -> None:
        super().__init__(column)


@compiles(LookedUpFirst)
def _looked_up_first(element, compiler, **kw) -> str:
    return f"({compiler.process(element.element, **kw)} || '')"


@compiles(LookedUpFirst, "sqlite")
def _looked_up_first_sqlite(element, compiler, **kw) -> str:
    return compiler.process(element.element, **kw)


@compiles(PrefixSearchable)
def _prefix_searchable(element, compiler, **kw) -> str:
    return compiler.process(element.element, **kw)


@compiles(PrefixSearchable, "sqlite")
def _prefix_searchable_sqlite(element, compiler, **kw) -> str:
    return f"{compiler.process(element.element, **kw)} COLLATE NOCASE"


@compiles(RecentFirst)
def _recent_first(element, compiler, **kw) -> str:
    return f"{compiler.process(element.element, **kw)} DESC NULLS LAST"


@compiles(RecentFirst, "sqlite")
def _recent_first_sqlite(element, compiler, **kw) -> str:
    return f"{compiler.process(element.element, **kw)} DESC"


_columns = Patient.__table__.c
# MRN search is a prefix match on the stored, upper-case MRN (the unique constraint's own index
# follows the collation, which LIKE cannot use).
Index(
    "ix_patient_mrn_prefix",
    PrefixSearchable(_columns.mrn),
    postgresql_ops={"mrn": "varchar_pattern_ops"},
)
# The patient list's order, most recently seen first (never seen last), read straight off the
# index instead of sorting every patient: it matches patient_search's ORDER BY column for column.
Index(
    "ix_patient_recently_seen",
    RecentFirst(_columns.last_seen_at),
    _columns.updated_at.desc(),
    _columns.id.desc(),
)

# SQLite's name search: its page read in the search's order (last name, first name) and stopped
# at the page's last match rather than every match sorted, with the name key and archived flag
# beside them so that a name is tested without reading its row. PostgreSQL finds names by the
# trigram index (ix_patient_name_key) and sorts the few matches of a rare name.
Index(
    "ix_patient_by_name",
    _columns.last_name,
    _columns.first_name,
    _columns.id,
    _columns.name_key,
    _columns.archived,
).ddl_if(dialect="sqlite")
# PostgreSQL's name search of one or two letters ("a"), which trigrams cannot look up: the page
# read in the search's order and stopped at its 25th match, each name tested from the index.
Index(
    "ix_patient_name_order",
    _columns.last_name,
    _columns.first_name,
    _columns.id,
    postgresql_include=["name_key", "archived"],
).ddl_if(dialect="postgresql")


@event.listens_for(Patient, "before_insert")
@event.listens_for(Patient, "before_update")
def _keep_name_key(mapper, connection, patient: Patient) -> None:
    patient.name_key = search_key(f"{patient.last_name} {patient.first_name}")


def archived():
    """SQL: the patient is archived, written so that ``ix_patient_archived`` answers it (SQLite
    uses a partial index only for the very condition it was made with, ``archived = 1``)."""
    return Patient.archived == True  # noqa: E712


def not_archived(patient_id):
    """SQL: the patient of ``patient_id`` is not archived, read from the index of the archived
    ones (a few rows) rather than by joining every row to its patient."""
    return patient_id.not_in(select(Patient.id).where(archived()))
