"""Declarative base with a naming convention, and column types shared by every model."""

from datetime import UTC, datetime

from sqlalchemy import DateTime, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, registry
from sqlalchemy.types import TypeDecorator

from clinic import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is needed")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


def in_list(column: str, values: tuple[str, ...]) -> str:
    """SQL for a CHECK that keeps a text column to its known values."""
    quoted = ", ".join(f"'{value}'" for value in values)
    return f"{column} IN ({quoted})"


class Stamped:
    """Created/updated stamps in UTC."""

    created_at: Mapped[datetime] = mapped_column(
        default=lambda: clock.utcnow(), server_default=func.now()
    )
    updated_at: Mapped[datetime] = mapped_column(
        default=lambda: clock.utcnow(), onupdate=lambda: clock.utcnow(), server_default=func.now()
    )


def made_on(dialect_name: str):
    """Alembic's ``include_object`` for one database: a schema object the models make on another
    database only (``.ddl_if(dialect=...)``, e.g. an index one database needs and the other
    answers another way) is left out when models and migrations are compared there."""

    def include(schema_object, name, type_, reflected, compare_to) -> bool:
        only_on = getattr(getattr(schema_object, "_ddl_if", None), "dialect", None)
        if only_on is None:
            return True
        return only_on == dialect_name if isinstance(only_on, str) else dialect_name in only_on

    return include
