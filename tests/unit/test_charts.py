"""The pain chart's procedure labels: procedures close in time get labels on separate rows, a
crowded stretch of history gets the short labels, and no two labels ever print over each other."""

from datetime import date, timedelta

import pytest

from clinic.services.relief.charts import (
    LABEL_CHAR_PX,
    PLOT_MARGIN_PX,
    ProcedureTrace,
    label_rows,
    pain_chart_svg,
)


def trace(label: str, performed_on: date, short: bool = False) -> ProcedureTrace:
    return ProcedureTrace(
        label,
        performed_on,
        6,
        [(performed_on.replace(day=28), 3)],
        short_label=label.split()[0] if short else None,
    )


def test_labels_of_procedures_a_fortnight_apart_go_on_separate_rows():
    blocks_then_ablation = [
        trace("MBB 04 Apr 2022", date(2022, 4, 4)),
        trace("MBB 20 Apr 2022", date(2022, 4, 20)),
        trace("RFA 05 May 2022", date(2022, 5, 5)),
        trace("RFA 06 Mar 2023", date(2023, 3, 6)),
    ]
    labels = label_rows(blocks_then_ablation, until=date(2026, 12, 1))
    assert [row for row, _ in labels] == [0, 1, 2, 0]  # ten months later row 0 is free again
    assert [text for _, text in labels] == [t.label for t in blocks_then_ablation]


def test_labels_far_apart_share_the_bottom_row_and_the_chart_draws_them_all():
    far_apart = [
        trace("ESI-TF 01 Jan 2025", date(2025, 1, 1)),
        trace("ESI-TF 01 Jun 2025", date(2025, 6, 1)),
    ]
    assert label_rows(far_apart, until=date(2025, 12, 1)) == [
        (0, "ESI-TF 01 Jan 2025"),
        (0, "ESI-TF 01 Jun 2025"),
    ]
    svg = pain_chart_svg(far_apart, 50, until=date(2025, 12, 1)).decode()
    assert "ESI-TF 01 Jan 2025" in svg and "ESI-TF 01 Jun 2025" in svg


def overlapping(procedures: list[ProcedureTrace], labels, until: date, width: int) -> list:
    """Pairs of labels on one row whose text (8-point characters) runs into the next one's."""
    first = procedures[0].performed_on - timedelta(days=7)
    days_per_px = max((until - first).days, 30) / (width - PLOT_MARGIN_PX)
    drawn = [
        (row, (t.performed_on - first).days, len(text) * LABEL_CHAR_PX * days_per_px, text)
        for t, label in zip(procedures, labels, strict=True)
        if label is not None
        for row, text in [label]
    ]
    return [
        (one[3], other[3])
        for i, one in enumerate(drawn)
        for other in drawn[i + 1 :]
        if one[0] == other[0] and other[1] < one[1] + one[2]
    ]


@pytest.mark.parametrize("width", [816, 360])
def test_years_of_history_with_a_crowded_year_keep_a_label_each_and_none_overprinted(width):
    """Five years of a patient's procedures, five of them in its first five months: labels on the
    crowded stretch are the procedures' codes, the lone ones are whole, none overlaps."""
    days = [
        date(2021, 3, 17),
        date(2021, 3, 31),
        date(2021, 4, 19),
        date(2021, 5, 21),
        date(2021, 7, 26),
        date(2021, 12, 7),
        date(2023, 10, 2),
        date(2025, 6, 10),
    ]
    codes = ["MBB", "MBB", "RFA", "FJI", "ESI-IL", "FJI", "FJI", "FJI"]
    history = [
        trace(f"{code} {day:%d %b %Y}", day, short=True)
        for code, day in zip(codes, days, strict=True)
    ]
    until = date(2026, 3, 25)
    labels = label_rows(history, until, width)
    assert overlapping(history, labels, until, width) == []
    if width == 816:
        assert [text for _, text in labels[:5]] == codes[:5]
    else:  # a phone's 360 pixels hold three of the crowded months' five, as codes
        assert [label and label[1] for label in labels[:5]] == [
            "MBB",
            "MBB",
            "RFA",
            None,
            None,
        ]
    # The last, with nothing after it, is whole at either width; so, with room, are the others.
    assert labels[-1][1] == "FJI 10 Jun 2025"
    if width == 816:
        assert [label[1] for label in labels[5:7]] == ["FJI 07 Dec 2021", "FJI 02 Oct 2023"]
    svg = pain_chart_svg(history, 50, until=until, width=width).decode()
    assert all(f">{label[1]}<" in svg for label in labels if label)


def test_too_many_procedures_at_once_leave_some_unlabelled_rather_than_overprinted():
    """Eight procedures in eight days: three rows hold three labels; the rest go without (the
    caption under the chart names them all)."""
    start = date(2024, 2, 1)
    crowd = [
        trace(f"MBB {start + timedelta(days=n):%d %b %Y}", start + timedelta(days=n), True)
        for n in range(8)
    ]
    until = date(2026, 2, 1)
    labels = label_rows(crowd, until)
    assert labels[:3] == [(0, "MBB"), (1, "MBB"), (2, "MBB")]
    assert labels.count(None) == 5
    assert overlapping(crowd, labels, until, 816) == []
    svg = pain_chart_svg(crowd, 50, until=until).decode()
    assert svg.count(">MBB<") == 3
