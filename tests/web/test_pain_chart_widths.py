"""The patient's pain chart is drawn for the width it is shown at, and its numbers are a table.

At a phone's width a chart drawn for a desktop would be scaled down until its labels were under
5 px; drawn at 360 px its 8-point labels stay 10.7 px (WCAG 2.2 AA, issue 18).
"""

import re
from datetime import date

import pytest

from tests.factories import InterventionFactory, PainScoreFactory, procedure_type


@pytest.fixture
def scored(db_session):
    intervention = InterventionFactory(
        procedure_type=procedure_type("ESI-TF"),
        status="completed",
        performed_on=date(2026, 9, 1),
        baseline_nrs=8,
    )
    PainScoreFactory(
        intervention=intervention, recorded_on=date(2026, 9, 15), nrs=3, percent_relief=60
    )
    db_session.commit()
    return intervention


def font_sizes_px(svg: str, width_px: int) -> list[float]:
    """Each text's size in screen pixels when the SVG is shown at ``width_px``."""
    width_units = float(re.search(r'<svg[^>]*\bwidth="([\d.]+)pt"', svg).group(1))
    scale = width_px / width_units
    return [float(size) * scale for size in re.findall(r"font-size: ([\d.]+)px", svg)]


@pytest.mark.parametrize("width", [816, 360])
def test_the_chart_is_drawn_at_its_width_with_text_of_at_least_10_px(client, login, scored, width):
    login("physician")
    response = client.get(f"/patients/{scored.patient_id}/pain-chart.svg?width={width}")
    svg = response.get_data(as_text=True)
    assert response.status_code == 200
    sizes = font_sizes_px(svg, width)
    assert sizes and min(sizes) >= 10, sorted(set(sizes))


def test_a_width_the_chart_is_not_drawn_for_is_a_400(client, login, scored):
    login("physician")
    response = client.get(f"/patients/{scored.patient_id}/pain-chart.svg?width=99999")
    assert response.status_code == 400
    assert "816 or 360 pixels wide" in response.get_data(as_text=True)


def test_the_patient_page_offers_the_phone_chart_and_the_scores_as_a_table(client, login, scored):
    login("front_desk")
    page = client.get(f"/patients/{scored.patient_id}").get_data(as_text=True)
    assert 'media="(max-width: 575.98px)"' in page and "width=360" in page
    table = page[page.index("The pain scores as a table") :]
    assert "2026-09-15" in table and "<td>3</td>" in table and "60%" in table
    assert "(baseline)" in table and "<td>8</td>" in table
