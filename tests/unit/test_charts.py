"""The pain chart's procedure labels: procedures close in time get labels on separate rows."""

from datetime import date

from clinic.services.relief.charts import ProcedureTrace, label_rows, pain_chart_svg


def trace(label: str, performed_on: date) -> ProcedureTrace:
    return ProcedureTrace(label, performed_on, 6, [(performed_on.replace(day=28), 3)])


def test_labels_of_procedures_a_fortnight_apart_go_on_separate_rows():
    blocks_then_ablation = [
        trace("MBB 04 Apr 2022", date(2022, 4, 4)),
        trace("MBB 20 Apr 2022", date(2022, 4, 20)),
        trace("RFA 05 May 2022", date(2022, 5, 5)),
        trace("RFA 06 Mar 2023", date(2023, 3, 6)),
    ]
    rows = label_rows(blocks_then_ablation, until=date(2026, 12, 1))
    assert rows[:3] == [0, 1, 2]
    assert rows[3] == 0  # ten months later the bottom row is free again


def test_labels_far_apart_share_the_bottom_row_and_the_chart_draws_them_all():
    far_apart = [
        trace("ESI-TF 01 Jan 2025", date(2025, 1, 1)),
        trace("ESI-TF 01 Jun 2025", date(2025, 6, 1)),
    ]
    assert label_rows(far_apart, until=date(2025, 12, 1)) == [0, 0]
    svg = pain_chart_svg(far_apart, 50, until=date(2025, 12, 1)).decode()
    assert "ESI-TF 01 Jan 2025" in svg and "ESI-TF 01 Jun 2025" in svg
