"""Spinal cord stimulators: the device registry, explants, programming at adjustment visits."""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from clinic import clock
from clinic.models import AuditEvent, Booking, ScsDevice, StimulatorAdjustment, Visit
from clinic.models.devices import ADJUSTMENT_CPT_CODES, PARADIGMS
from clinic.services import DomainError
from clinic.services.devices import (
    CPT_LABELS,
    PARADIGM_LABELS,
    AdjustmentDetails,
    DeviceDetails,
    device_version,
    record_adjustment,
    record_adjustment_visit,
    record_explant,
    register_device,
    stimulator_history,
    update_device,
)
from clinic.services.records import StaleRecord
from clinic.services.scheduling.bookings import BookingClash
from tests.factories import (
    InterventionFactory,
    PatientFactory,
    PhysicianFactory,
    RoomFactory,
    VisitFactory,
    procedure_type,
)
from tests.helpers.app import csrf_token
from tests.helpers.statement_count import count_statements

ZONE = ZoneInfo("UTC")
TODAY = clock.utcnow().date()
IMPLANT_DAY = TODAY - timedelta(days=60)
VISIT_DAY = TODAY - timedelta(days=7)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


def device_details(**changes) -> DeviceDetails:
    values = dict(
        manufacturer="Abbott",
        model="Proclaim XR",
        serial_number="ab1234567",
        implanted_on=IMPLANT_DAY,
        lead_locations="Two 8-contact percutaneous leads, T8–T10 midline",
        implant_intervention_id=None,
    )
    values.update(changes)
    return DeviceDetails(**values)


def programming(**changes) -> AdjustmentDetails:
    values = dict(
        program_slot=3,
        paradigm="burst",
        cpt_code="95972",
        amplitude_ma=Decimal("2.75"),
        frequency_hz=40,
        pulse_width_us=1000,
        contacts="1+ 2- 3+",
        impedance_ohms="650, 720, 810, 1200",
        battery_pct=82,
        pain_before=7,
        pain_after=3,
        notes="Coverage of the left leg improved",
    )
    values.update(changes)
    return AdjustmentDetails(**values)


@pytest.fixture
def cast(db_session):
    """Ana with a completed SCS implant, Ben without, a physician and a consulting room."""
    doctor = PhysicianFactory(full_name="Dr. Okafor")
    ana = PatientFactory(first_name="Ana", last_name="Smith")
    ben = PatientFactory(first_name="Ben", last_name="Jones")
    implant = InterventionFactory(
        patient=ana,
        physician=doctor,
        procedure_type=procedure_type("SCS-IMPLANT"),
        starts_at=at(IMPLANT_DAY, 8),
        ends_at=at(IMPLANT_DAY, 10),
        status="completed",
        performed_on=IMPLANT_DAY,
        baseline_nrs=8,
    )
    room = RoomFactory(name="Consult 1")
    db_session.flush()
    return {"doctor": doctor, "ana": ana, "ben": ben, "implant": implant, "room": room}


@pytest.fixture
def device(db_session, cast):
    return register_device(
        db_session, cast["ana"], device_details(implant_intervention_id=cast["implant"].id), ZONE
    )


def adjustment_visit(cast, day: date = VISIT_DAY, hour: int = 9, **kwargs) -> Visit:
    kwargs.setdefault("patient", cast["ana"])
    kwargs.setdefault("physician", cast["doctor"])
    kwargs.setdefault("visit_kind", "stimulator_adjustment")
    return VisitFactory(starts_at=at(day, hour), ends_at=at(day, hour, 30), **kwargs)


def count(db_session, model) -> int:
    return db_session.execute(select(func.count()).select_from(model)).scalar_one()


# --- The device registry ---------------------------------------------------------------------


def test_registering_a_device_links_the_completed_implant_procedure(db_session, cast, device):
    assert device.patient_id == cast["ana"].id
    assert device.implant_intervention_id == cast["implant"].id
    assert device.implanted_on == IMPLANT_DAY
    assert device.serial_number == "AB1234567"  # kept in capitals, compared without case
    created = db_session.execute(
        select(AuditEvent).where(
            AuditEvent.record_type == "scs_device", AuditEvent.action == "create"
        )
    ).scalar_one()
    assert created.record_id == str(device.id)


def test_the_implant_date_comes_from_the_procedure_when_left_empty(db_session, cast):
    device = register_device(
        db_session,
        cast["ana"],
        device_details(implanted_on=None, implant_intervention_id=cast["implant"].id),
        ZONE,
    )
    assert device.implanted_on == IMPLANT_DAY


def test_a_serial_already_registered_is_refused_naming_the_patient_who_has_it(
    db_session, cast, device
):
    with pytest.raises(DomainError) as refused:
        register_device(db_session, cast["ben"], device_details(serial_number=" Ab1234567 "), ZONE)
    assert refused.value.field == "serial_number"
    assert refused.value.message.startswith(
        "Serial number AB1234567 is already registered to Ana Smith"
    )
    assert cast["ana"].mrn in refused.value.message
    assert "Check the serial on the device card." in refused.value.message
    assert count(db_session, ScsDevice) == 1


def test_the_implant_date_cannot_be_in_the_future(db_session, cast):
    with pytest.raises(DomainError, match="The implant date cannot be in the future") as refused:
        register_device(
            db_session, cast["ben"], device_details(implanted_on=TODAY + timedelta(days=1)), ZONE
        )
    assert refused.value.field == "implanted_on"


def test_the_implant_date_must_be_the_procedures_performed_date(db_session, cast):
    with pytest.raises(DomainError) as refused:
        register_device(
            db_session,
            cast["ana"],
            device_details(
                implanted_on=IMPLANT_DAY - timedelta(days=1),
                implant_intervention_id=cast["implant"].id,
            ),
            ZONE,
        )
    assert refused.value.field == "implanted_on"
    assert refused.value.message == (
        f"The implant procedure was performed on {IMPLANT_DAY.isoformat()}: "
        "use that date, or choose no procedure."
    )


@pytest.mark.parametrize(
    ("which", "message"),
    [
        ("another_patients", "Choose one of this patient's own implant procedures, or none."),
        ("not_an_implant", "not a spinal cord stimulator implant: choose the implant procedure"),
        ("not_completed", "That implant procedure has not been completed yet"),
    ],
)
def test_the_implant_procedure_must_be_the_patients_completed_scs_implant(
    db_session, cast, which, message
):
    if which == "another_patients":
        procedure = InterventionFactory(
            patient=cast["ben"],
            procedure_type=procedure_type("SCS-IMPLANT"),
            status="completed",
            performed_on=IMPLANT_DAY,
        )
    elif which == "not_an_implant":
        procedure = InterventionFactory(
            patient=cast["ana"],
            procedure_type=procedure_type("SCS-TRIAL"),
            status="completed",
            performed_on=IMPLANT_DAY,
        )
    else:
        procedure = InterventionFactory(
            patient=cast["ana"], procedure_type=procedure_type("SCS-IMPLANT"), status="scheduled"
        )
    db_session.flush()
    with pytest.raises(DomainError, match=message) as refused:
        register_device(
            db_session, cast["ana"], device_details(implant_intervention_id=procedure.id), ZONE
        )
    assert refused.value.field == "implant_intervention_id"


def test_one_implant_procedure_puts_in_one_device(db_session, cast, device):
    with pytest.raises(DomainError, match="That implant procedure already put in device AB1234567"):
        register_device(
            db_session,
            cast["ana"],
            device_details(serial_number="XY1", implant_intervention_id=cast["implant"].id),
            ZONE,
        )


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"manufacturer": "  "}, "manufacturer", "Enter the manufacturer."),
        ({"model": ""}, "model", "Enter the model."),
        ({"serial_number": ""}, "serial_number", "Enter the serial number."),
        ({"implanted_on": None}, "implanted_on", "Enter the implant date as YYYY-MM-DD."),
        ({"model": "M" * 81}, "model", "Shorten the model to 80 characters at most."),
    ],
)
def test_missing_device_details_are_named(db_session, cast, change, field, message):
    with pytest.raises(DomainError) as refused:
        register_device(db_session, cast["ben"], device_details(**change), ZONE)
    assert (refused.value.field, refused.value.message) == (field, message)


def test_editing_a_device_from_a_stale_form_is_refused(db_session, cast, device):
    opened = device_version(device)
    update_device(db_session, device, opened, device_details(model="Proclaim 7"), ZONE)
    db_session.flush()
    with pytest.raises(StaleRecord, match="Someone else changed this device"):
        update_device(db_session, device, opened, device_details(model="Eterna"), ZONE)
    assert device.model == "Proclaim 7"


# --- Explants --------------------------------------------------------------------------------


def test_an_explant_is_recorded_with_its_date_and_reason(db_session, device):
    record_explant(
        db_session, device, device_version(device), VISIT_DAY, " Infection of the pocket ", ZONE
    )
    assert (device.explanted_on, device.explant_reason) == (VISIT_DAY, "Infection of the pocket")
    assert stimulator_history(db_session, device.patient_id).implanted == []


@pytest.mark.parametrize(
    ("explanted_on", "reason", "field", "message"),
    [
        (
            IMPLANT_DAY - timedelta(days=1),
            "Infection",
            "explanted_on",
            f"The device was implanted on {IMPLANT_DAY.isoformat()}: "
            "the explant date must be on or after it.",
        ),
        (
            TODAY + timedelta(days=1),
            "Infection",
            "explanted_on",
            f"The explant date cannot be in the future (today is {TODAY.isoformat()}).",
        ),
        (
            VISIT_DAY,
            "   ",
            "explant_reason",
            "Say why the device was explanted (e.g. infection, lead migration, loss of effect).",
        ),
        (None, "Infection", "explanted_on", "Enter the explant date as YYYY-MM-DD."),
    ],
)
def test_a_bad_explant_is_refused_saying_what_to_fix(
    db_session, device, explanted_on, reason, field, message
):
    with pytest.raises(DomainError) as refused:
        record_explant(db_session, device, None, explanted_on, reason, ZONE)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert device.explanted_on is None


def test_the_explant_cannot_precede_the_last_programming(db_session, cast, device):
    record_adjustment(db_session, adjustment_visit(cast), device, programming(), ZONE)
    with pytest.raises(DomainError) as refused:
        record_explant(db_session, device, None, VISIT_DAY - timedelta(days=1), "Infection", ZONE)
    assert refused.value.message == (
        f"Programming was recorded on {VISIT_DAY.isoformat()}: "
        "the explant date must be on or after the last programming."
    )


# --- Programming at a booked visit -----------------------------------------------------------


def test_recording_programming_completes_the_visit(db_session, cast, device):
    visit = adjustment_visit(cast, status="checked_in")
    adjustment = record_adjustment(
        db_session, visit, device, programming(amplitude_ma=Decimal("2.5")), ZONE, visit.version
    )
    db_session.flush()
    db_session.expire_all()
    stored = db_session.get(StimulatorAdjustment, adjustment.id)
    assert stored.visit.status == "completed"
    assert stored.device_id == device.id
    assert stored.amplitude_ma == Decimal("2.50")
    assert (stored.program_slot, stored.paradigm, stored.cpt_code) == (3, "burst", "95972")
    assert (stored.pain_before, stored.pain_after) == (7, 3)
    assert stored.contacts == "1+ 2- 3+" and stored.impedance_ohms == "650, 720, 810, 1200"
    assert cast["ana"].last_seen_at == visit.starts_at


def test_a_scheduled_visit_can_be_recorded_without_check_in(db_session, cast, device):
    visit = adjustment_visit(cast, status="scheduled")
    record_adjustment(db_session, visit, device, programming(), ZONE)
    assert visit.status == "completed"


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"program_slot": 0}, "program_slot", "The program slot is a whole number from 1 to 32."),
        ({"program_slot": 33}, "program_slot", "The program slot is a whole number from 1 to 32."),
        (
            {"program_slot": None},
            "program_slot",
            "The program slot is a whole number from 1 to 32.",
        ),
        (
            {"paradigm": "sine"},
            "paradigm",
            "Choose the paradigm: tonic, burst, high-frequency 10 kHz or other.",
        ),
        (
            {"cpt_code": "63685"},
            "cpt_code",
            "Choose what the visit was: 95970 analysis only, 95971 simple or 95972 complex reprogramming.",
        ),
        *[
            (
                {"amplitude_ma": value},
                "amplitude_ma",
                "The amplitude is 0 to 30 mA, with at most 2 decimals (e.g. 3.25).",
            )
            for value in (Decimal("-0.01"), Decimal("30.01"), Decimal("3.456"), Decimal("NaN"))
        ],
        *[
            (
                {"frequency_hz": value},
                "frequency_hz",
                "The frequency is a whole number of Hz from 1 to 10000.",
            )
            for value in (0, 10001)
        ],
        *[
            (
                {"pulse_width_us": value},
                "pulse_width_us",
                "The pulse width is a whole number of µs from 1 to 1000.",
            )
            for value in (0, 1001)
        ],
        *[
            (
                {"battery_pct": value},
                "battery_pct",
                "The battery is a whole percentage from 0 to 100.",
            )
            for value in (-1, 101)
        ],
        *[
            (
                {"pain_before": value},
                "pain_before",
                "Pain before is a whole number from 0 (none) to 10 (worst).",
            )
            for value in (-1, 11)
        ],
        *[
            (
                {"pain_after": value},
                "pain_after",
                "Pain after is a whole number from 0 (none) to 10 (worst).",
            )
            for value in (-1, 11)
        ],
        (
            {"paradigm": "high_frequency_10khz", "frequency_hz": 60},
            "frequency_hz",
            "High-frequency 10 kHz stimulation runs at 10000 Hz: correct the frequency "
            "or choose another paradigm.",
        ),
        (
            {"contacts": "1+ " * 50},
            "contacts",
            "Shorten the active contacts to 120 characters at most.",
        ),
    ],
)
def test_programming_values_outside_their_limits_are_refused_saying_what_to_fix(
    db_session, cast, device, change, field, message
):
    visit = adjustment_visit(cast)
    with pytest.raises(DomainError) as refused:
        record_adjustment(db_session, visit, device, programming(**change), ZONE)
    assert (refused.value.field, refused.value.message) == (field, message)
    assert visit.status == "scheduled"
    assert count(db_session, StimulatorAdjustment) == 0


@pytest.mark.parametrize(
    ("change", "stored"),
    [
        ({"amplitude_ma": Decimal("0"), "battery_pct": 0, "pain_after": 0}, None),
        ({"amplitude_ma": Decimal("30"), "frequency_hz": 10000, "pulse_width_us": 1000}, None),
        ({"program_slot": 32, "battery_pct": 100, "pain_before": 10}, None),
        ({"paradigm": "high_frequency_10khz", "frequency_hz": 10000, "pulse_width_us": 30}, None),
        ({"amplitude_ma": 3}, Decimal("3.00")),
        (
            {
                "amplitude_ma": None,
                "frequency_hz": None,
                "pulse_width_us": None,
                "battery_pct": None,
                "pain_before": None,
                "pain_after": None,
                "cpt_code": "95970",
            },
            None,
        ),
    ],
)
def test_values_at_their_limits_are_accepted(db_session, cast, device, change, stored):
    adjustment = record_adjustment(
        db_session, adjustment_visit(cast), device, programming(**change), ZONE
    )
    db_session.flush()
    if stored is not None:
        assert adjustment.amplitude_ma == stored


@pytest.mark.parametrize(
    ("kind", "status", "message"),
    [
        (
            "consult",
            "checked_in",
            "That booking is a consult, not a stimulator adjustment visit: "
            "book a stimulator adjustment visit for the programming.",
        ),
        (
            "stimulator_adjustment",
            "completed",
            "This visit is already completed: its programming is on the patient's record.",
        ),
        ("stimulator_adjustment", "cancelled", "This visit was cancelled: programming can only"),
        ("stimulator_adjustment", "no_show", "This visit was marked a no-show: programming"),
    ],
)
def test_only_an_open_stimulator_adjustment_visit_takes_programming(
    db_session, cast, device, kind, status, message
):
    visit = adjustment_visit(cast, visit_kind=kind, status=status)
    with pytest.raises(DomainError) as refused:
        record_adjustment(db_session, visit, device, programming(), ZONE)
    assert refused.value.message.startswith(message)
    assert visit.status == status


def test_programming_a_visit_twice_is_refused(db_session, cast, device):
    visit = adjustment_visit(cast)
    record_adjustment(db_session, visit, device, programming(), ZONE)
    with pytest.raises(DomainError, match="This visit is already completed"):
        record_adjustment(db_session, visit, device, programming(program_slot=4), ZONE)
    assert count(db_session, StimulatorAdjustment) == 1


def test_programming_is_not_recorded_ahead_of_the_visit_day(db_session, cast, device):
    tomorrow = TODAY + timedelta(days=1)
    visit = adjustment_visit(cast, day=tomorrow)
    with pytest.raises(DomainError) as refused:
        record_adjustment(db_session, visit, device, programming(), ZONE)
    assert refused.value.message == (
        f"This visit is booked for {tomorrow.isoformat()}: programming is recorded on the day "
        "of the visit, not before."
    )


def test_the_device_must_be_the_patients(db_session, cast, device):
    visit = adjustment_visit(cast, patient=cast["ben"])
    with pytest.raises(DomainError, match="That device belongs to another patient"):
        record_adjustment(db_session, visit, device, programming(), ZONE)


def test_a_device_explanted_before_the_visit_takes_no_programming(db_session, cast, device):
    record_explant(db_session, device, None, VISIT_DAY - timedelta(days=1), "Infection", ZONE)
    with pytest.raises(DomainError) as refused:
        record_adjustment(db_session, adjustment_visit(cast), device, programming(), ZONE)
    assert refused.value.message == (
        f"The device was explanted on {(VISIT_DAY - timedelta(days=1)).isoformat()}, before "
        f"this visit ({VISIT_DAY.isoformat()}): programming can only be recorded while it is "
        "implanted."
    )


def test_a_device_explanted_on_the_visit_day_can_still_be_programmed_that_day(
    db_session, cast, device
):
    record_explant(db_session, device, None, VISIT_DAY, "Explanted after analysis", ZONE)
    record_adjustment(
        db_session, adjustment_visit(cast), device, programming(cpt_code="95970"), ZONE
    )


def test_a_visit_before_the_implant_takes_no_programming(db_session, cast, device):
    visit = adjustment_visit(cast, day=IMPLANT_DAY - timedelta(days=3))
    with pytest.raises(DomainError, match=f"implanted on {IMPLANT_DAY.isoformat()}, after"):
        record_adjustment(db_session, visit, device, programming(), ZONE)


def test_a_stale_visit_is_refused(db_session, cast, device):
    visit = adjustment_visit(cast)
    with pytest.raises(StaleRecord):
        record_adjustment(db_session, visit, device, programming(), ZONE, visit.version + 1)
    assert visit.status == "scheduled"


# --- The patient is here now: book the visit and record it -----------------------------------


def test_recording_without_a_visit_books_a_completed_stimulator_adjustment_visit(
    db_session, cast, device
):
    adjustment = record_adjustment_visit(
        db_session,
        cast["ana"],
        device,
        cast["doctor"].id,
        cast["room"].id,
        at(VISIT_DAY, 10),
        at(VISIT_DAY, 10, 30),
        ZONE,
        programming(),
    )
    db_session.flush()
    visit = adjustment.visit
    assert isinstance(visit, Visit)
    assert visit.visit_kind == "stimulator_adjustment" and visit.status == "completed"
    assert (visit.physician_id, visit.room_id) == (cast["doctor"].id, cast["room"].id)
    assert visit.intervention_id == cast["implant"].id  # it follows up the implant


def test_recording_without_a_visit_obeys_the_clash_rules_and_keeps_nothing(
    db_session, cast, device
):
    VisitFactory(
        patient=cast["ben"],
        physician=cast["doctor"],
        room=cast["room"],
        visit_kind="consult",
        starts_at=at(VISIT_DAY, 10),
        ends_at=at(VISIT_DAY, 10, 30),
    )
    db_session.flush()
    bookings_before = count(db_session, Booking)
    with pytest.raises(BookingClash) as refused:
        record_adjustment_visit(
            db_session,
            cast["ana"],
            device,
            cast["doctor"].id,
            cast["room"].id,
            at(VISIT_DAY, 10, 15),
            at(VISIT_DAY, 10, 45),
            ZONE,
            programming(),
        )
    assert "Dr. Okafor and Consult 1 are already booked" in refused.value.message
    assert "10:00–10:30" in refused.value.message
    assert count(db_session, Booking) == bookings_before
    assert count(db_session, StimulatorAdjustment) == 0
    # Back to back is fine.
    record_adjustment_visit(
        db_session,
        cast["ana"],
        device,
        cast["doctor"].id,
        cast["room"].id,
        at(VISIT_DAY, 10, 30),
        at(VISIT_DAY, 11),
        ZONE,
        programming(),
    )
    assert count(db_session, StimulatorAdjustment) == 1


def test_bad_programming_without_a_visit_books_nothing(db_session, cast, device):
    bookings_before = count(db_session, Booking)
    with pytest.raises(DomainError, match="The program slot"):
        record_adjustment_visit(
            db_session,
            cast["ana"],
            device,
            cast["doctor"].id,
            None,
            at(VISIT_DAY, 10),
            at(VISIT_DAY, 10, 30),
            ZONE,
            programming(program_slot=40),
        )
    assert count(db_session, Booking) == bookings_before


def test_a_refusal_after_booking_takes_the_booking_back(db_session, cast, device):
    """The visit lies in the future: booked first, then refused, and the booking is undone."""
    tomorrow = TODAY + timedelta(days=1)
    bookings_before = count(db_session, Booking)
    with pytest.raises(DomainError, match="programming is recorded on the day"):
        record_adjustment_visit(
            db_session,
            cast["ana"],
            device,
            cast["doctor"].id,
            None,
            at(tomorrow, 10),
            at(tomorrow, 10, 30),
            ZONE,
            programming(),
        )
    assert count(db_session, Booking) == bookings_before


# --- The programming history -----------------------------------------------------------------


def add_programming(db_session, cast, device, how_many: int, first_day: date) -> None:
    for n in range(how_many):
        visit = adjustment_visit(cast, day=first_day + timedelta(days=n), status="completed")
        db_session.add(
            StimulatorAdjustment(
                visit=visit,
                device=device,
                program_slot=n % 32 + 1,
                paradigm="tonic",
                cpt_code="95971",
            )
        )


def test_the_history_lists_devices_with_their_programming_most_recent_first(
    db_session, cast, device
):
    old = register_device(
        db_session,
        cast["ana"],
        device_details(serial_number="OLD1", implanted_on=IMPLANT_DAY - timedelta(days=400)),
        ZONE,
    )
    record_explant(db_session, old, None, IMPLANT_DAY - timedelta(days=30), "Lead migration", ZONE)
    add_programming(db_session, cast, device, 3, VISIT_DAY - timedelta(days=10))
    db_session.flush()
    history = stimulator_history(db_session, cast["ana"].id)
    assert [entry.device.serial_number for entry in history.devices] == ["AB1234567", "OLD1"]
    assert history.implanted == [device]
    days = [a.visit.starts_at.date() for a in history.devices[0].adjustments]
    assert days == sorted(days, reverse=True) and len(days) == 3
    assert history.devices[1].adjustments == []
    assert stimulator_history(db_session, cast["ben"].id).devices == []


def test_the_history_takes_the_same_statements_for_1_or_10_programmings(
    app, db_session, cast, device
):
    def statements_for_history() -> tuple[int, int]:
        db_session.commit()
        db_session.expire_all()
        patient_id = cast["ana"].id  # reloads the patient: not the history's statement
        with count_statements(app) as counter:
            history = stimulator_history(db_session, patient_id)
            for entry in history.devices:
                assert entry.device.implant_intervention.performed_on == IMPLANT_DAY
                for adjustment in entry.adjustments:
                    assert adjustment.visit.physician.full_name == "Dr. Okafor"
                    assert adjustment.visit.starts_at.tzinfo is not None
        return counter.count, len(history.devices[0].adjustments)

    add_programming(db_session, cast, device, 1, IMPLANT_DAY + timedelta(days=1))
    one = statements_for_history()
    add_programming(db_session, cast, device, 9, IMPLANT_DAY + timedelta(days=2))
    ten = statements_for_history()
    assert (one[1], ten[1]) == (1, 10)
    assert one[0] == ten[0] == 3  # devices, their implants, programmings


def test_every_paradigm_and_code_has_its_words():
    assert set(PARADIGM_LABELS) == set(PARADIGMS)
    assert set(CPT_LABELS) == set(ADJUSTMENT_CPT_CODES)


# --- Pages -----------------------------------------------------------------------------------


def device_form(client, url, **overrides) -> dict:
    data = {
        "csrf_token": csrf_token(client, url),
        "manufacturer": "Boston Scientific",
        "model": "WaveWriter Alpha",
        "serial_number": "BSC-778899",
        "lead_locations": "Two 16-contact leads, T9–T10",
        "implant_intervention_id": "0",
        "implanted_on": IMPLANT_DAY.isoformat(),
    }
    data.update(overrides)
    return data


def adjustment_form(client, url, **overrides) -> dict:
    data = {
        "csrf_token": csrf_token(client, url),
        "program_slot": "2",
        "paradigm": "tonic",
        "amplitude_ma": "4.25",
        "frequency_hz": "50",
        "pulse_width_us": "300",
        "contacts": "4- 5+",
        "impedance_ohms": "540, 610",
        "battery_pct": "76",
        "cpt_code": "95971",
        "pain_before": "6",
        "pain_after": "2",
        "notes": "Paraesthesia now covers the right foot",
    }
    data.update(overrides)
    return data


def test_a_physician_registers_a_device_from_the_form(client, login, db_session, cast):
    login("physician")
    url = f"/patients/{cast['ana'].id}/devices/new"
    page = client.get(url).get_data(as_text=True)
    assert "Spinal cord stimulator implant" in page  # the implant procedure is offered
    response = client.post(
        url, data=device_form(client, url, implant_intervention_id=str(cast["implant"].id))
    )
    assert response.status_code == 302
    device = db_session.execute(select(ScsDevice)).scalar_one()
    assert device.implant_intervention_id == cast["implant"].id
    history = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Registered Boston Scientific WaveWriter Alpha (serial BSC-778899)" in history
    assert "Two 16-contact leads, T9–T10" in history


def test_a_bad_device_form_keeps_the_input_and_says_what_to_fix(client, login, db_session, cast):
    login("physician")
    url = f"/patients/{cast['ben'].id}/devices/new"
    future = (TODAY + timedelta(days=3)).isoformat()
    response = client.post(url, data=device_form(client, url, implanted_on=future, model=""))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Enter the model, e.g. Proclaim XR." in page
    assert 'value="BSC-778899"' in page and 'value="Boston Scientific"' in page
    response = client.post(url, data=device_form(client, url, implanted_on=future))
    page = response.get_data(as_text=True)
    assert "The implant date cannot be in the future" in page and f'value="{future}"' in page
    assert count(db_session, ScsDevice) == 0


def test_a_duplicate_serial_on_the_form_names_the_patient_who_has_it(
    client, login, db_session, cast, device
):
    login("physician")
    url = f"/patients/{cast['ben'].id}/devices/new"
    page = client.post(url, data=device_form(client, url, serial_number="ab1234567")).get_data(
        as_text=True
    )
    assert "Serial number AB1234567 is already registered to Ana Smith" in page
    assert count(db_session, ScsDevice) == 1


def test_a_physician_records_programming_for_a_booked_visit(
    client, login, db_session, cast, device
):
    login("physician")
    visit = adjustment_visit(cast, status="checked_in", notes="Left leg coverage")
    db_session.commit()
    url = f"/devices/{device.id}/adjustments/new?visit_id={visit.id}"
    page = client.get(url).get_data(as_text=True)
    assert "Saving the programming completes the visit." in page
    response = client.post(url, data=adjustment_form(client, url, visit_version=visit.version))
    assert response.status_code == 302, response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(Visit, visit.id).status == "completed"
    history = client.get(response.headers["Location"]).get_data(as_text=True)
    for shown in ("4.25", "Tonic", "4- 5+", "540, 610", "76 %", "95971", "Simple reprogramming"):
        assert shown in history
    assert "6 → 2" in history and "Paraesthesia now covers the right foot" in history


def test_the_form_starts_from_the_last_settings(client, login, db_session, cast, device):
    login("physician")
    record_adjustment(db_session, adjustment_visit(cast), device, programming(), ZONE)
    db_session.commit()
    page = client.get(f"/devices/{device.id}/adjustments/new").get_data(as_text=True)
    assert 'value="2.75"' in page and 'value="1+ 2- 3+"' in page
    assert "Filled in from the programming of" in page


def test_bad_programming_on_the_form_keeps_the_input_and_completes_nothing(
    client, login, db_session, cast, device
):
    login("physician")
    visit = adjustment_visit(cast)
    db_session.commit()
    url = f"/devices/{device.id}/adjustments/new?visit_id={visit.id}"
    response = client.post(
        url,
        data=adjustment_form(
            client, url, visit_version=visit.version, amplitude_ma="45", pain_after="eleven"
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "The amplitude is 0 to 30 mA" in page
    # Once beside its field and once in the summary of what to fix, linked to the field.
    assert page.count("Pain after is a whole number from 0 (none) to 10 (worst).") == 2
    assert '<a href="#pain_after">' in page
    assert 'value="540, 610"' in page and 'value="eleven"' in page
    db_session.expire_all()
    assert db_session.get(Visit, visit.id).status == "scheduled"
    assert count(db_session, StimulatorAdjustment) == 0


def test_a_physician_records_programming_now_and_the_visit_is_booked(
    client, login, db_session, cast, device
):
    login("physician")
    db_session.commit()
    url = f"/devices/{device.id}/adjustments/new"
    response = client.post(
        url,
        data=adjustment_form(
            client,
            url,
            physician_id=str(cast["doctor"].id),
            room_id=str(cast["room"].id),
            day=VISIT_DAY.isoformat(),
            start_time="11:00",
            duration_minutes="30",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    visit = db_session.execute(
        select(Visit).where(Visit.visit_kind == "stimulator_adjustment")
    ).scalar_one()
    assert visit.status == "completed" and visit.starts_at == at(VISIT_DAY, 11)


def test_recording_now_into_a_taken_slot_names_the_clash_and_keeps_the_form(
    client, login, db_session, cast, device
):
    login("physician")
    VisitFactory(
        patient=cast["ben"],
        physician=cast["doctor"],
        room=cast["room"],
        starts_at=at(VISIT_DAY, 11),
        ends_at=at(VISIT_DAY, 11, 30),
    )
    db_session.commit()
    url = f"/devices/{device.id}/adjustments/new"
    response = client.post(
        url,
        data=adjustment_form(
            client,
            url,
            physician_id=str(cast["doctor"].id),
            room_id=str(cast["room"].id),
            day=VISIT_DAY.isoformat(),
            start_time="11:10",
            duration_minutes="30",
        ),
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dr. Okafor and Consult 1 are already booked" in page
    assert 'value="11:10"' in page and "Paraesthesia now covers the right foot" in page
    assert count(db_session, StimulatorAdjustment) == 0
    assert (
        db_session.execute(
            select(func.count()).select_from(Visit).where(Visit.patient_id == cast["ana"].id)
        ).scalar_one()
        == 0
    )


def test_a_physician_records_an_explant_and_a_stale_form_is_refused(
    client, login, db_session, device
):
    login("physician")
    db_session.commit()
    url = f"/devices/{device.id}/explant"
    stale = csrf_token(client, url)
    opened = device_version(device)
    data = {
        "csrf_token": stale,
        "explanted_on": VISIT_DAY.isoformat(),
        "explant_reason": "Loss of effect",
        "version": opened,
    }
    response = client.post(url, data=data)
    assert response.status_code == 302, response.get_data(as_text=True)
    page = client.post(url, data={**data, "explant_reason": "Infection"}).get_data(as_text=True)
    assert "Someone else changed this device" in page
    db_session.expire_all()
    stored = db_session.get(ScsDevice, device.id)
    assert (stored.explanted_on, stored.explant_reason) == (VISIT_DAY, "Loss of effect")
    assert "Loss of effect" in page  # the form now shows what was saved


def test_a_device_edit_is_saved(client, login, db_session, device):
    login("physician")
    db_session.commit()
    url = f"/devices/{device.id}/edit"
    page = client.get(url).get_data(as_text=True)
    assert 'value="AB1234567"' in page
    response = client.post(
        url,
        data=device_form(
            client,
            url,
            serial_number="AB1234568",
            implant_intervention_id=str(device.implant_intervention_id),
            version=device_version(device),
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db_session.expire_all()
    assert db_session.get(ScsDevice, device.id).serial_number == "AB1234568"


@pytest.mark.parametrize("role", ["front_desk", "manager", "admin"])
def test_only_physicians_write_stimulator_records(client, login, db_session, cast, device, role):
    login(role)
    visit = adjustment_visit(cast)
    db_session.commit()
    token = csrf_token(client, "/")
    for url, data in [
        (f"/patients/{cast['ben'].id}/devices/new", device_form(client, "/")),
        (
            f"/devices/{device.id}/explant",
            {"explanted_on": VISIT_DAY.isoformat(), "explant_reason": "x"},
        ),
        (f"/devices/{device.id}/adjustments/new?visit_id={visit.id}", adjustment_form(client, "/")),
        (f"/devices/{device.id}/edit", device_form(client, "/")),
    ]:
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    db_session.expire_all()
    assert count(db_session, ScsDevice) == 1 and count(db_session, StimulatorAdjustment) == 0
    assert db_session.get(Visit, visit.id).status == "scheduled"
    # Reading the history is for everyone who reads the record.
    page = client.get(f"/patients/{cast['ana'].id}/stimulator").get_data(as_text=True)
    assert "AB1234567" in page and "Record programming" not in page


def test_the_booking_page_leads_a_physician_to_the_programming_form(
    client, login, db_session, cast, device
):
    visit = adjustment_visit(cast, status="checked_in")
    db_session.commit()
    login("front_desk")
    assert "Record programming" not in client.get(f"/schedule/bookings/{visit.id}").get_data(
        as_text=True
    )
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login("physician")
    page = client.get(f"/schedule/bookings/{visit.id}").get_data(as_text=True)
    assert f'href="/devices/visits/{visit.id}/programming"' in page
    response = client.get(f"/devices/visits/{visit.id}/programming")
    assert response.status_code == 302
    assert response.headers["Location"] == (
        f"/devices/{device.id}/adjustments/new?visit_id={visit.id}"
    )


def test_a_visit_of_a_patient_with_two_devices_asks_which_one(client, login, db_session, cast):
    for serial in ("LEFT1", "RIGHT2"):
        register_device(db_session, cast["ana"], device_details(serial_number=serial), ZONE)
    visit = adjustment_visit(cast)
    db_session.commit()
    login("physician")
    response = client.get(f"/devices/visits/{visit.id}/programming")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Which one was programmed?" in page and "LEFT1" in page and "RIGHT2" in page


def test_a_patient_with_no_device_is_asked_to_register_one(client, login, db_session, cast):
    visit = adjustment_visit(cast, patient=cast["ben"])
    db_session.commit()
    login("physician")
    page = client.get(f"/devices/visits/{visit.id}/programming").get_data(as_text=True)
    assert "has no implanted stimulator registered" in page
    assert f'href="/patients/{cast["ben"].id}/devices/new"' in page


def test_history_shows_the_exact_values_after_a_round_trip(db_session, cast, device):
    record_adjustment(
        db_session, adjustment_visit(cast), device, replace(programming(), notes=None), ZONE
    )
    db_session.commit()
    db_session.expire_all()
    adjustment = stimulator_history(db_session, cast["ana"].id).devices[0].adjustments[0]
    assert adjustment.amplitude_ma == Decimal("2.75") and adjustment.notes is None


@pytest.mark.parametrize("role", ["front_desk", "physician", "manager", "admin"])
def test_every_role_that_reads_the_patient_page_is_led_to_the_printable_stimulator_history(
    client, login, db_session, cast, device, role
):
    # The role table (docs/rules.md, Roles): every role reads the patient's timeline, stimulator included, so the
    # printable history of the same facts is for every role too, and the patient page links it.
    login(role)
    db_session.commit()
    patient_id = cast["ana"].id
    page = client.get(f"/patients/{patient_id}").get_data(as_text=True)
    assert f'href="/patients/{patient_id}/stimulator"' in page
    assert client.get(f"/patients/{patient_id}/stimulator").status_code == 200


def test_programming_from_a_form_opened_before_the_visit_was_moved_is_refused_with_the_input_kept(
    client, login, db_session, cast, device
):
    login("physician")
    visit = adjustment_visit(cast, status="checked_in")
    db_session.commit()
    url = f"/devices/{device.id}/adjustments/new?visit_id={visit.id}"
    opened_at = visit.version
    # Someone else changes the visit (here: its note) after the form was opened.
    visit.notes = "Moved to the afternoon clinic"
    db_session.commit()
    response = client.post(
        url, data=adjustment_form(client, url, visit_version=opened_at, amplitude_ma="3.5")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Someone else changed this visit" in page or "changed" in page.lower()
    assert 'value="3.5"' in page
    db_session.expire_all()
    assert db_session.get(Visit, visit.id).status == "checked_in"
    assert count(db_session, StimulatorAdjustment) == 0
