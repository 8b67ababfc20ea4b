"""The pain chart's procedure labels: procedures close in time get labels on separate rows, a
crowded stretch of history gets the short labels, and no two labels are ever drawn over each
other — measured on the drawn chart, with the font's own widths."""

import random
import re
from datetime import date, timedelta

import pytest

from clinic.services.relief.charts import ProcedureTrace, label_rows, pain_chart_svg

_LABEL = re.compile(
    r'<text style="font-size: 8px;[^"]*" x="([\d.]+)" y="([\d.]+)"[^>]*>([^<]+)</text>'
)


def trace(label: str, performed_on: date, short: bool = False) -> ProcedureTrace:
    return ProcedureTrace(
        label,
        performed_on,
        6,
        [(performed_on + timedelta(days=10), 3)],
        short_label=label.split()[0] if short else None,
    )


def drawn_labels(
    svg: str, procedures: list[ProcedureTrace]
) -> list[tuple[float, float, float, str]]:
    """(row's height, left, right, text) of each procedure label the chart draws, its width
    measured with the font it is drawn in."""
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    texts = {t.label for t in procedures} | {t.short_label for t in procedures if t.short_label}
    font = FontProperties(family="DejaVu Sans", size=8)
    measure = TextToPath()
    labels = []
    for x, y, text in _LABEL.findall(svg):
        if text in texts:
            width = measure.get_text_width_height_descent(text, font, ismath=False)[0]
            labels.append((float(y), float(x), float(x) + width, text))
    return labels


def overprinted(labels: list[tuple[float, float, float, str]]) -> list[tuple[str, str]]:
    """Pairs of drawn labels on one row whose text runs into the next one's."""
    ordered = sorted(labels)
    return [
        (one[3], other[3])
        for one, other in zip(ordered, ordered[1:], strict=False)
        if one[0] == other[0] and one[2] > other[1]
    ]


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
    assert [text for *_, text in drawn_labels(svg, far_apart)] == [t.label for t in far_apart]


@pytest.mark.parametrize("width", [816, 360])
def test_years_of_history_with_a_crowded_year_keep_a_label_each_and_none_overprinted(width):
    """Five years of a patient's procedures, five of them in its first five months: the
    crowded ones are labelled by their codes, the last one in full, none over another."""
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
    svg = pain_chart_svg(history, 50, until=date(2026, 3, 25), width=width).decode()
    drawn = drawn_labels(svg, history)
    assert overprinted(drawn) == []
    texts = [text for *_, text in sorted(drawn, key=lambda label: label[1])]
    assert texts[-1] == "FJI 10 Jun 2025"
    # The crowded months' labels are codes; at the desktop's width four of the five have room.
    crowded = [text for _, x, _, text in drawn if text in codes[:5]]
    assert set(texts) - set(crowded) <= {t.label for t in history[5:]}
    assert len(crowded) >= (4 if width == 816 else 2)


def test_a_label_hanging_past_the_edge_narrows_the_plot_and_still_overprints_nothing():
    """The last procedure a few days before today: its whole label hangs past the plot's right
    edge, the layout narrows the plot, and the labels placed by estimate move closer (found by
    review: MBB's label ran 18 px into the implant's)."""
    history = [
        trace("MBB 25 Nov 2024", date(2024, 11, 25), short=True),
        trace("SCS-IMPLANT 26 Jan 2025", date(2025, 1, 26), short=True),
        trace("RFA 20 Mar 2026", date(2026, 3, 20), short=True),
    ]
    for width in (816, 360):
        svg = pain_chart_svg(history, 50, until=date(2026, 3, 25), width=width).decode()
        assert overprinted(drawn_labels(svg, history)) == [], width


def test_random_histories_never_overprint_a_label():
    """Thirty random histories of 2 to 14 procedures over one to six years, at both widths."""
    rng = random.Random(20261206)
    codes = ["MBB", "RFA", "FJI", "ESI-TF", "ESI-IL", "SCS-TRIAL", "SCS-IMPLANT"]
    for _ in range(30):
        first = date(2020, 1, 1) + timedelta(days=rng.randrange(700))
        span = rng.randrange(365, 6 * 365)
        days = sorted(
            {first + timedelta(days=rng.randrange(span)) for _ in range(rng.randrange(2, 15))}
        )
        history = [trace(f"{rng.choice(codes)} {day:%d %b %Y}", day, short=True) for day in days]
        until = days[-1] + timedelta(days=rng.randrange(1, 200))
        for width in (816, 360):
            svg = pain_chart_svg(history, 50, until=until, width=width).decode()
            drawn = drawn_labels(svg, history)
            assert overprinted(drawn) == [], (width, [t.label for t in history])
            assert drawn, "at least the first procedure is labelled"


def test_too_many_procedures_at_once_leave_some_unlabelled_rather_than_overprinted():
    """Eight procedures in eight days: three rows hold three labels; the rest go without (the
    caption under the chart names them all)."""
    start = date(2024, 2, 1)
    crowd = [
        trace(f"MBB {start + timedelta(days=n):%d %b %Y}", start + timedelta(days=n), True)
        for n in range(8)
    ]
    svg = pain_chart_svg(crowd, 50, until=date(2026, 2, 1)).decode()
    drawn = drawn_labels(svg, crowd)
    assert [text for *_, text in drawn] == ["MBB"] * 3
    assert overprinted(drawn) == []
