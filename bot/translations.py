"""``python -m bot translations export|status`` — the translations for staff.

``export <language> <source>`` prints a translation file with every Dutch text of that
source (as a comment), its hash and the translation where one exists: a translator fills
in ``text:``, the school sets ``review: gecontroleerd`` once checked. ``status`` lists per
language what is missing, outdated (the Dutch text changed), a concept, or wrong; it
exits 1 when a translation is wrong (placeholders, buttons, a Dutch term dropped).
"""

from __future__ import annotations

import sys

from core.translations import LANGUAGES, SOURCES, TRANSLATED, skeleton, status_report, summary


def translations_command(action: str, language: str | None = None,
                         source: str | None = None, verbose: bool = False) -> int:
    if action == "export":
        if language not in TRANSLATED or source not in SOURCES:
            print(f"usage: export <{'|'.join(TRANSLATED)}> <{'|'.join(SOURCES)}>",
                  file=sys.stderr)
            return 2
        sys.stdout.write(skeleton(language, source))
        return 0
    findings = status_report(languages=[language] if language else TRANSLATED)
    counts = summary(findings)
    print(f"{'taal':8} {'ontbreekt':>10} {'verouderd':>10} {'concept':>8} {'fouten':>7}")
    for lang in LANGUAGES[1:]:
        if language and lang != language:
            continue
        row = counts.get(lang, {"missing": 0, "outdated": 0, "concept": 0, "problems": 0})
        print(f"{lang:8} {row['missing']:>10} {row['outdated']:>10} {row['concept']:>8} "
              f"{row['problems']:>7}")
    wrong = [f for f in findings if f.problem not in ("missing", "outdated", "concept")]
    shown = findings if verbose else wrong + [f for f in findings if f.problem == "outdated"]
    for finding in shown:
        print(f"  {finding}")
    return 1 if wrong else 0
