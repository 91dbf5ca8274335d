"""The staff review as files: a self-contained HTML page (the Jinja2 template
``report.html.j2`` beside this module, autoescaped), PNG charts and CSV files
(semicolon-separated, UTF-8, safe from spreadsheet formulas)."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from bot.review.analysis import CHANNEL_LABELS, Review, _title, guess_label

TEMPLATE = "report.html.j2"


def _local(moment: datetime, tz: tzinfo) -> str:
    return f"{moment.astimezone(tz):%Y-%m-%d %H:%M}"


def _channel(name: str) -> str:
    return CHANNEL_LABELS.get(name, name)


def _languages(path: str) -> str:
    """ "nl > en" as "Nederlands, daarna Engels" (the care desk's Dutch names)."""
    from core.texts import messages

    names = [messages()[f"language.dutch_name.{code}"].text
             if f"language.dutch_name.{code}" in messages() else code
             for code in path.split(" > ")]
    return " → ".join(names)


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _write_csv(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(header)
        writer.writerows([_cell(value) for value in row] for row in rows)


def write_csvs(review: Review, out: Path, tz: tzinfo) -> list[Path]:
    files: dict[str, tuple[Sequence[str], list[Sequence[Any]]]] = {
        "unclear.csv": (
            ("tijd", "kanaal", "vraag (afgeschermd)", "wat er gebeurde", "gok van de assistent",
             "zekerheid"),
            [(_local(u.time, tz), _channel(u.channel), u.text, u.kind, u.guess,
              f"{u.confidence:.2f}") for u in review.unclear],
        ),
        "feedback.csv": (
            ("tijd", "kanaal", "oordeel", "onderwerp", "vraag (afgeschermd)",
             "wat miste de ouder (afgeschermd)"),
            [(_local(f.time, tz), _channel(f.channel), "hielp" if f.helpful else "hielp niet",
              f.topic, f.question, f.comment) for f in review.feedback],
        ),
        "topics.csv": (
            ("onderwerp", "vraag", "getypt", "via knop", "totaal"),
            [(topic, _title(topic), review.topics_typed[topic],
              review.topics_button[topic], count)
             for topic, count in review.topics.most_common()],
        ),
        "channels.csv": (
            ("kanaal", "gesprekken"),
            [(_channel(name), count) for name, count in review.channels.most_common()],
        ),
        "languages.csv": (
            ("taal", "gesprekken"),
            [(name, count) for name, count in review.languages.most_common()],
        ),
        "days.csv": (
            ("dag", "gesprekken"),
            [(day.isoformat(), count) for day, count in sorted(review.days.items())],
        ),
    }
    paths = []
    for name, (header, rows) in files.items():
        _write_csv(out / name, header, rows)
        paths.append(out / name)
    return paths


def write_charts(review: Review, out: Path) -> dict[str, Path]:
    """PNG bar charts (matplotlib, Agg backend); only for data that exists."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    charts: dict[str, Path] = {}

    def bar(name: str, labels: list[str], values: list[int], title: str,
            horizontal: bool = False) -> None:
        if not values:
            return
        fig, ax = plt.subplots(figsize=(8, max(2.5, 0.45 * len(values) + 1) if horizontal
                                       else 3.5))
        if horizontal:
            ax.barh(labels[::-1], values[::-1], color="#2b6cb0")
        else:
            ax.bar(labels, values, color="#2b6cb0")
            ax.tick_params(axis="x", labelrotation=45 if len(labels) > 6 else 0)
        ax.set_title(title)
        (ax.xaxis if horizontal else ax.yaxis).get_major_locator().set_params(integer=True)
        fig.tight_layout()
        path = out / f"{name}.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        charts[name] = path

    topics = review.topics.most_common()
    bar("topics", [_title(t) for t, _ in topics], [c for _, c in topics],
        "Meest gestelde onderwerpen", horizontal=True)
    channels = review.channels.most_common()
    bar("channels", [_channel(c) for c, _ in channels], [n for _, n in channels],
        "Gesprekken per kanaal")
    days = sorted(review.days.items())
    bar("days", [f"{d:%d-%m}" for d, _ in days], [n for _, n in days], "Gesprekken per dag")
    return charts


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(  # noqa: S701 - autoescape is on for the HTML template
        loader=jinja2.FileSystemLoader(str(Path(__file__).parent)),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(review: Review, charts: dict[str, Path], tz: tzinfo, generated: datetime
                ) -> str:
    positive = sum(1 for f in review.feedback if f.helpful)
    per_topic: dict[str, list[int]] = {}
    for item in review.feedback:
        counts = per_topic.setdefault(item.topic or "(geen antwoord)", [0, 0])
        counts[0 if item.helpful else 1] += 1
    return _environment().get_template(TEMPLATE).render(
        generated=_local(generated, tz),
        period=f"{_local(review.since, tz)} tot {_local(review.until, tz)}",
        conversations=review.conversations,
        questions=review.questions,
        positive=positive,
        negative=len(review.feedback) - positive,
        contact_requests=review.contact_requests,
        charts={name: path.name for name, path in charts.items()},
        unclear=[(_local(u.time, tz), _channel(u.channel), u.text, u.kind,
                  guess_label(u.guess), f"{u.confidence:.0%}") for u in review.unclear],
        feedback_per_topic=[(topic, counts[0], counts[1])
                            for topic, counts in sorted(per_topic.items())],
        missed=[(_local(f.time, tz), _channel(f.channel), f.topic or "-", f.question or "-",
                 f.comment or "(geen toelichting)") for f in review.feedback if not f.helpful],
        topics=[(t, _title(t), review.topics_typed[t], review.topics_button[t], c)
                for t, c in review.topics.most_common()],
        channels=[(_channel(c), n) for c, n in review.channels.most_common()],
        languages=[(_languages(c), n) for c, n in review.languages.most_common()],
        days=[(d.isoformat(), n) for d, n in sorted(review.days.items())],
    )


def write_report(review: Review, out: Path, tz: tzinfo, generated: datetime) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    charts = write_charts(review, out)
    write_csvs(review, out, tz)
    report = out / "report.html"
    report.write_text(render_html(review, charts, tz, generated), encoding="utf-8")
    return report
