"""Hostile or out-of-range input answers 4xx with a message that says what to fix, never a 500."""

import pytest
from sqlalchemy import func, select

from clinic.models import Patient
from tests.factories import PatientFactory
from tests.helpers.app import csrf_token


@pytest.mark.parametrize(
    "url",
    [
        "/patients/2147483648",
        "/patients/9223372036854775808",
        "/schedule/bookings/9223372036854775808",
        "/admin/users/2147483648",
        "/referrals/99999999999999999999",
    ],
)
def test_an_id_beyond_the_columns_range_is_not_found(client, login, url):
    login("admin")
    assert client.get(url).status_code == 404


def test_the_largest_id_a_column_holds_is_still_looked_up(client, login):
    login("admin")
    assert client.get("/patients/2147483647").status_code == 404


@pytest.mark.parametrize(
    "query",
    ["q=a%00b", "q=%01", "q=x%7F", "page=1%00"],
)
def test_a_control_character_in_a_query_is_refused_naming_the_parameter(client, login, query):
    login("front_desk")
    response = client.get(f"/patients?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    name = query.split("=")[0]
    assert f"The parameter “{name}” holds a control character" in page


def test_tab_and_line_breaks_in_a_search_are_still_searched(client, login, db_session):
    PatientFactory(first_name="Ada", last_name="Lovelace")
    login("front_desk")
    db_session.commit()
    response = client.get("/patients?q=Lovelace%09")
    assert response.status_code == 200
    assert "Lovelace" in response.get_data(as_text=True)


def test_a_control_character_in_a_form_field_is_refused_and_nothing_saved(
    client, login, db_session
):
    login("front_desk")
    token = csrf_token(client, "/patients/new")
    response = client.post(
        "/patients/new",
        data={
            "csrf_token": token,
            "first_name": "Nul\x00l",
            "last_name": "Person",
            "date_of_birth": "1970-01-01",
            "sex": "female",
            "condition": "other",
        },
    )
    assert response.status_code == 400
    assert "The field “first_name” holds a control character" in response.get_data(as_text=True)
    assert db_session.execute(select(func.count()).select_from(Patient)).scalar_one() == 0


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("not-a-month", "The month must be written YYYY-MM, e.g. 2026-11"),
        ("2026-13", "The month must be written YYYY-MM"),
        ("0001-01", "The month must be between 1900-01-01 and 9998-12-31"),
    ],
)
def test_a_month_the_home_page_cannot_show_is_a_400_that_says_why(client, login, month, message):
    login("manager")
    response = client.get(f"/?month={month}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


def test_the_earliest_month_and_a_month_to_come_are_shown(client, login):
    login("manager")
    assert client.get("/?month=1900-01").status_code == 200
    assert client.get("/?month=9998-12").status_code == 200


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("date=9999-12-31", "The date must be between 1900-01-01 and 9998-12-31"),
        ("date=0001-01-01&view=week", "The date must be between 1900-01-01 and 9998-12-31"),
        ("date=31/12/2026", "The date must be written YYYY-MM-DD"),
    ],
)
def test_a_schedule_date_it_cannot_show_is_a_400_that_says_why(client, login, query, message):
    login("front_desk")
    response = client.get(f"/schedule?{query}")
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["date=1900-01-01&view=week", "date=9998-12-31&view=week"])
def test_the_schedule_shows_the_first_and_last_weeks_it_can(client, login, query):
    login("front_desk")
    assert client.get(f"/schedule?{query}").status_code == 200


def test_an_export_filter_beyond_the_calendar_gets_the_page_not_a_broken_stream(client, login):
    login("manager")
    response = client.get("/exports/schedule.csv?to=9999-12-31")
    assert response.status_code == 400
    assert response.mimetype == "text/html"
    assert "Dates run from 1900-01-01 to 9998-12-31" in response.get_data(as_text=True)


def test_a_date_typed_beyond_the_calendar_is_refused_with_the_input_kept(client, login):
    login("front_desk")
    token = csrf_token(client, "/patients/new")
    response = client.post(
        "/patients/new",
        data={
            "csrf_token": token,
            "first_name": "Ada",
            "last_name": "Farfuture",
            "date_of_birth": "9999-12-31",
            "sex": "female",
            "condition": "other",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Dates run from 1900-01-01 to 9998-12-31" in page
    assert 'value="Farfuture"' in page


# Found by an outsider's probing after the fuzz test: digits Python reads differently from how
# they look (leading zeros, "²", numbers past int's 4,300 digits), and very long searches.


@pytest.mark.parametrize(
    "url",
    [
        "/patients?page=0000001000000000000000000",
        "/patients?page=1" + "0" * 5000,
        "/referrals?status=received&page=0000001000000000000000000",
        "/patients?page=²",
    ],
)
def test_a_page_number_past_the_last_is_a_400_however_it_is_written(client, login, url):
    login("front_desk")
    response = client.get(url)
    assert response.status_code == 400
    assert "must be a whole number from 1 to 100,000" in response.get_data(as_text=True)


def test_leading_zeros_of_a_page_number_are_read_past(client, login, db_session):
    PatientFactory(last_name="Zeroes")
    login("front_desk")
    db_session.commit()
    for page in ("0001", "0" * 5000 + "1"):
        response = client.get(f"/patients?page={page}")
        assert response.status_code == 200
        assert "Zeroes" in response.get_data(as_text=True)


def test_leading_zeros_of_a_record_id_in_a_query_are_read_past(client, login, db_session):
    patient = PatientFactory(last_name="Padded")
    login("front_desk")
    db_session.commit()
    response = client.get(f"/referrals/new?patient_id={'0' * 5000}{patient.id}")
    assert response.status_code == 200
    assert patient.mrn in response.get_data(as_text=True)
    assert client.get(f"/referrals/new?patient_id=1{'0' * 5000}").status_code == 404


def test_a_record_id_in_the_address_is_written_in_ascii_digits(client, login, db_session):
    patient = PatientFactory()
    login("front_desk")
    db_session.commit()
    arabic_indic = "".join(chr(0x0660 + int(digit)) for digit in str(patient.id))
    assert client.get(f"/patients/{patient.id}").status_code == 200
    assert client.get(f"/patients/{arabic_indic}").status_code == 404


@pytest.mark.parametrize("physician_id", ["2147483648", "9223372036854775808", "-1"])
def test_the_relief_chart_with_a_physician_no_column_holds_is_a_400_that_says_why(
    client, login, physician_id
):
    login("manager")
    response = client.get(f"/reports/relief/chart.svg?physician_id={physician_id}")
    assert response.status_code == 400
    assert "The chart’s filters could not be read (Physician)" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["ab " * 998, "x" * 50_001, "y" * 101])
def test_a_search_longer_than_any_name_is_refused_on_the_list_with_the_search_kept(
    client, login, query
):
    login("front_desk")
    response = client.get("/patients", query_string={"q": query})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "A search is at most 100 characters" in page
    assert f'value="{query.strip()}"' in page


def test_a_search_of_100_characters_is_still_searched(client, login, db_session):
    PatientFactory(last_name="Lovelace")
    login("front_desk")
    db_session.commit()
    response = client.get("/patients", query_string={"q": "Lovelace" + " " * 84 + "Lovelace"})
    assert response.status_code == 200
    assert "Lovelace" in response.get_data(as_text=True)


def test_a_start_with_seconds_is_told_the_format(client, login):
    login("front_desk")
    response = client.get("/schedule/new?start=2026-12-07T09:30:00")
    assert response.status_code == 400
    assert "The start must be written YYYY-MM-DDTHH:MM" in response.get_data(as_text=True)
