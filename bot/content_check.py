"""``python -m bot check-content``: do the FAQ answers still say what they must?

Staff edit ``data/answers/faq.yml``. Before a change goes live this command checks:

1. every answer ``utter_faq/<topic>`` still carries the facts listed for its topic in
   ``data/answers/required_facts.yml`` (derived from the school's content brief);
2. answers speak to parents with "u" (not "je"/"jij"), and buttons point at known topics;
   the texts the code puts together (``data/answers/messages.yml``: status, form, hand-over,
   mails) fill only the placeholders the code provides, use "u" and keep their length;
3. the training data still validates (``rasa data validate --fail-on-warning``).

Messages are Dutch and name the topic and the missing fact. Exit codes: 0 in order;
1 a fact is missing or the data does not validate; 2 a file cannot be read.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]  # PyYAML ships without stubs

from bot.admin import EXIT_OK, EXIT_REJECTED, EXIT_UNREADABLE
from core.settings import PROJECT_ROOT
from core.texts import INFORMAL, staff_text

ANSWERS = PROJECT_ROOT / "data" / "answers" / "faq.yml"
REQUIRED_FACTS = PROJECT_ROOT / "data" / "answers" / "required_facts.yml"
PREFIX = "utter_faq/"
NEIGHBOURS = PROJECT_ROOT / "data" / "answers" / "neighbours.yml"
NEIGHBOUR_PREFIX = "utter_neighbour/"
GLOSSARY = PROJECT_ROOT / "data" / "answers" / "glossary.yml"
# a reply on a neighbouring subject says who to ask
REFERRAL_WORDS = ("zorgcoördinator", "mentor", "decaan", "leerkracht", "administratie",
                  "aanmelding", "website", "leerplichtambtenaar", "basisschool")
# the exit codes of the staff commands; 1 here: a text has problems
EXIT_PROBLEMS = EXIT_REJECTED

_TOPIC_PAYLOAD = re.compile(r'"faq_topic"\s*:\s*"([^"]*)"')


class ContentFileError(Exception):
    """A file cannot be read or has the wrong shape; the message is Dutch."""


@dataclass(frozen=True)
class Fact:
    description: str
    alternatives: tuple[tuple[str, ...], ...]


@dataclass(frozen=True)
class Problem:
    topic: str
    message: str

    def __str__(self) -> str:
        if self.topic.startswith("neighbour/"):
            return f"Onderwerp '{self.topic}' (utter_{self.topic}): {self.message}"
        if self.topic.startswith("woordenlijst"):
            return f"{self.topic} (data/answers/glossary.yml): {self.message}"
        if self.topic.startswith("medewerkers/"):
            return f"{self.topic} (data/staff/messages.yml): {self.message}"
        return f"Onderwerp '{self.topic}' (utter_faq/{self.topic}): {self.message}"


def normalize(text: str) -> str:
    """Lower case, straight apostrophes, one space between words."""
    text = text.replace("’", "'").replace("‘", "'").replace("\u2011", "-").lower()
    return " ".join(text.split())


def _phrase_found(phrase: str, text: str) -> bool:
    words = [re.escape(word) for word in normalize(phrase).split(" ")]
    return re.search(r"(?<!\w)" + r"\s+".join(words), text) is not None


def fact_present(fact: Fact, text: str) -> bool:
    """One alternative whose phrases all occur (each starting at a word boundary)."""
    normalized = normalize(text)
    return any(all(_phrase_found(p, normalized) for p in alt) for alt in fact.alternatives)


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContentFileError(staff_text("check.unreadable", what=what, path=path,
                                          error=exc.strerror)) from None
    except UnicodeDecodeError:
        raise ContentFileError(staff_text("check.not_utf8", what=what, path=path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = " " + staff_text("check.near_line", line=mark.line + 1) \
            if mark is not None else ""
        raise ContentFileError(staff_text("check.bad_yaml", what=what, path=path,
                                          where=where)) from None


def load_required_facts(path: Path = REQUIRED_FACTS,
                        section: str = "topics") -> dict[str, list[Fact]]:
    data = _read_yaml(path, staff_text("check.the_checklist"))
    topics = data.get(section) if isinstance(data, dict) else None
    if not isinstance(topics, dict) or not topics:
        raise ContentFileError(staff_text("check.no_section", path=path, section=section))
    result: dict[str, list[Fact]] = {}
    for topic, facts in topics.items():
        if not isinstance(facts, list):
            raise ContentFileError(staff_text("check.no_facts", topic=topic))
        parsed = []
        for entry in facts:
            alternatives = entry.get("any") if isinstance(entry, dict) else None
            if not isinstance(alternatives, list) or not alternatives:
                raise ContentFileError(staff_text("check.no_any", topic=topic))
            parsed.append(Fact(
                str(entry.get("fact") or staff_text("check.no_description")),
                tuple(tuple(str(p) for p in (alt if isinstance(alt, list) else [alt]))
                      for alt in alternatives),
            ))
        result[str(topic)] = parsed
    return result


def load_answers(path: Path = ANSWERS, prefix: str = PREFIX) -> dict[str, list[dict[str, Any]]]:
    """topic -> the answer variants (each a dict with 'text' and maybe 'buttons')."""
    data = _read_yaml(path, staff_text("check.the_answers_file"))
    responses = data.get("responses") if isinstance(data, dict) else None
    if not isinstance(responses, dict):
        raise ContentFileError(staff_text("check.no_responses", path=path))
    answers: dict[str, list[dict[str, Any]]] = {}
    for name, variants in responses.items():
        if not str(name).startswith(prefix):
            continue
        topic = str(name)[len(prefix):]
        answers[topic] = [v for v in variants or [] if isinstance(v, dict)]
    return answers


def check_answers(
    answers: dict[str, list[dict[str, Any]]], required: dict[str, list[Fact]]
) -> list[Problem]:
    """Every problem found, per topic in the checklist's order."""
    problems: list[Problem] = []
    for topic, facts in required.items():
        variants = answers.get(topic)
        if not variants:
            problems.append(Problem(topic, staff_text("check.answer_missing")))
            continue
        for number, variant in enumerate(variants, start=1):
            text = str(variant.get("text") or "")
            which = f" (variant {number})" if len(variants) > 1 else ""  # one of several
            if not text.strip():
                problems.append(Problem(topic, staff_text("check.answer_empty", which=which)))
                continue
            for fact in facts:
                if not fact_present(fact, text):
                    example = " + ".join(f'"{p}"' for p in fact.alternatives[0])
                    problems.append(Problem(topic, staff_text(
                        "check.fact_missing", which=which, fact=fact.description,
                        example=example)))
            informal = INFORMAL.search(text)
            if informal:
                problems.append(Problem(topic, staff_text(
                    "check.informal", which=which, word=informal.group(0))))
            for button in variant.get("buttons") or []:
                payload = str((button or {}).get("payload") or "")
                for target in _TOPIC_PAYLOAD.findall(payload):
                    if target not in answers:
                        problems.append(Problem(topic, staff_text(
                            "check.unknown_button_topic",
                            button=(button or {}).get("title"), target=target)))
    for topic in answers:
        if topic not in required:
            problems.append(Problem(topic, staff_text("check.topic_not_in_checklist")))
    return problems


def check_neighbours(answers: dict[str, list[dict[str, Any]]],
                     required: dict[str, list[Fact]],
                     faq_answers: dict[str, list[dict[str, Any]]]) -> list[Problem]:
    """The replies on subjects next to lwoo: their facts, "u", who to ask, and never
    (a copy of) one of the lwoo answers."""
    problems = [Problem(f"neighbour/{p.topic}", p.message)
                for p in check_answers(answers, required)]
    lwoo_texts = {" ".join(str(v.get("text") or "").split()).lower()
                  for variants in faq_answers.values() for v in variants}
    for subject, variants in answers.items():
        for variant in variants:
            text = " ".join(str(variant.get("text") or "").split()).lower()
            if not any(word in text for word in REFERRAL_WORDS):
                problems.append(Problem(f"neighbour/{subject}",
                                        staff_text("check.no_referral")))
            if text in lwoo_texts:
                problems.append(Problem(f"neighbour/{subject}",
                                        staff_text("check.copies_lwoo_answer")))
    return problems


def check_glossary(path: Path = GLOSSARY) -> list[Problem]:
    from core.glossary import load_glossary

    try:
        terms = load_glossary(path)
    except (OSError, ValueError) as exc:
        return [Problem("woordenlijst", staff_text("check.glossary_unreadable", path=path,
                                                   error=exc))]
    problems = []
    for term in terms:
        informal = INFORMAL.search(term.explanation)
        if informal:
            problems.append(Problem(f"woordenlijst/{term.term}", staff_text(
                "check.glossary_informal", word=informal.group(0))))
    return problems


def check_message_texts(path: Path | None = None,
                        staff_path: Path | None = None) -> list[Problem]:
    """The texts the code puts together (data/answers/messages.yml) and the staff texts
    (data/staff/messages.yml): placeholders the code fills, u-vorm, length
    (:func:`core.texts.check_messages`)."""
    from core.texts import MESSAGES_FILE, TextsError, check_messages, load_messages

    try:
        found = load_messages(path or MESSAGES_FILE)
    except TextsError as exc:
        raise ContentFileError(str(exc)) from exc
    problems = [Problem(f"bericht/{key}", problem) for key, problem in check_messages(found)]
    problems += check_staff_texts(staff_path)
    for key, facts in load_required_facts(REQUIRED_FACTS, "messages").items():
        message = found.get(key)
        if message is None:
            problems.append(Problem(f"bericht/{key}", staff_text("check.message_missing")))
            continue
        for fact in facts:
            if not fact_present(fact, message.text):
                example = " + ".join(f'"{p}"' for p in fact.alternatives[0])
                problems.append(Problem(f"bericht/{key}", staff_text(
                    "check.message_fact_missing", fact=fact.description, example=example)))
    return problems


def check_staff_texts(path: Path | None = None) -> list[Problem]:
    """The staff texts (data/staff/messages.yml), by the rules of the parent texts."""
    from core.texts import TextsError, check_staff_messages

    try:
        found = check_staff_messages(path)
    except TextsError as exc:
        raise ContentFileError(str(exc)) from exc
    return [Problem(f"medewerkers/{key}", problem) for key, problem in found]


def _validation_data(answers: Path) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """The data folder to validate: the project's, or a copy with ``answers`` in it."""
    data = PROJECT_ROOT / "data"
    if answers.resolve() == ANSWERS.resolve():
        return data, None
    temp = tempfile.TemporaryDirectory(prefix="check-content-")
    copy = Path(temp.name) / "data"
    shutil.copytree(data, copy)
    shutil.copyfile(answers, copy / "answers" / "faq.yml")
    return copy, temp


def validate_data(answers: Path) -> tuple[bool, str]:
    """``rasa data validate --fail-on-warning`` on the data with these answers."""
    rasa = str(Path(sys.executable).with_name("rasa"))
    data, temp = _validation_data(answers)
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
           "RASA_TELEMETRY_ENABLED": "false", "PYTHONWARNINGS": "ignore::DeprecationWarning"}
    try:
        result = subprocess.run(  # noqa: S603 - fixed argv
            [rasa, "data", "validate", "--config", str(PROJECT_ROOT / "config.yml"),
             "--domain", str(PROJECT_ROOT / "domain.yml"), "--data", str(data),
             "--fail-on-warning", "--quiet"],
            cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, staff_text("check.validate_did_not_run", error=type(exc).__name__)
    finally:
        if temp is not None:
            temp.cleanup()
    output = "\n".join(
        line for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "DeprecationWarning" not in line and "declare_namespace" not in line
    )
    return result.returncode == 0, output


def check_translations() -> tuple[list[Problem], list[str]]:
    """Wrong translations (placeholders, buttons, a kept Dutch term dropped) and simple
    Dutch answers that lost a required fact are problems; missing, outdated and
    unreviewed translations are listed for the school (the Dutch text or the note is
    shown meanwhile), not problems."""
    from core.translations import SIMPLE_DUTCH, TranslationsError, status_report, summary
    from core.translations import translations as translated_texts

    try:
        findings = status_report()
        simple = translated_texts(SIMPLE_DUTCH, "responses")
    except TranslationsError as exc:
        return [Problem("vertalingen", str(exc))], []
    problems = [Problem(f"{f.language}/{f.source}: {f.key}", f.problem) for f in findings
                if f.problem not in ("missing", "outdated", "concept")]
    # the simple-Dutch answers keep the facts of the Dutch ones
    for prefix, facts in ((PREFIX, load_required_facts()),
                          (NEIGHBOUR_PREFIX, load_required_facts(REQUIRED_FACTS, "neighbours"))):
        answers = {key[len(prefix):]: [{"text": t.text}] for key, t in simple.items()
                   if key.startswith(prefix)}
        for problem in check_answers(answers, {k: v for k, v in facts.items() if k in answers}):
            if "checklist" not in problem.message:
                problems.append(Problem(f"{SIMPLE_DUTCH} {problem.topic}", problem.message))
    listed = [staff_text("translations.summary", language=language, missing=row["missing"],
                         outdated=row["outdated"], concept=row["concept"])
              for language, row in sorted(summary(findings).items())]
    return problems, listed


def check_content_command(
    answers: str | None = None, facts: str | None = None, *, validate: bool = True
) -> int:
    """Check the answers file; print a Dutch verdict."""
    answers_path = Path(answers) if answers else ANSWERS
    facts_path = Path(facts) if facts else REQUIRED_FACTS
    try:
        required = load_required_facts(facts_path)
        faq_answers = load_answers(answers_path)
        problems = check_answers(faq_answers, required)
        neighbour_facts = load_required_facts(facts_path, "neighbours")
        problems += check_neighbours(load_answers(NEIGHBOURS, NEIGHBOUR_PREFIX),
                                     neighbour_facts, faq_answers)
        problems += check_glossary()
        problems += check_message_texts()
        translation_problems, translation_status = check_translations()
        problems += translation_problems
    except ContentFileError as exc:
        print(f"FOUT: {exc}", file=sys.stderr, flush=True)
        return EXIT_UNREADABLE
    if problems:
        print(staff_text("check.not_in_order", path=answers_path, count=len(problems)),
              file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(staff_text("check.fix_and_rerun"), file=sys.stderr, flush=True)
        return EXIT_PROBLEMS
    count = sum(len(facts) for facts in required.values())
    print(staff_text("check.answers_ok", topics=len(required), facts=count), flush=True)
    count = sum(len(facts) for facts in neighbour_facts.values())
    print(staff_text("check.neighbours_ok", topics=len(neighbour_facts), facts=count),
          flush=True)
    print("Vertalingen (python -m bot translations status --all geeft de lijst):", flush=True)
    for line in translation_status:
        print(f"  {line}", flush=True)
    if not validate:
        return EXIT_OK
    print(staff_text("check.validating"), flush=True)
    ok, output = validate_data(answers_path)
    if not ok:
        print(staff_text("check.data_invalid"), file=sys.stderr)
        print("\n".join(output.splitlines()[-40:]), file=sys.stderr, flush=True)
        return EXIT_PROBLEMS
    print(staff_text("check.data_valid"), flush=True)
    return EXIT_OK
