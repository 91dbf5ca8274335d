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

from core.settings import PROJECT_ROOT
from core.texts import INFORMAL

ANSWERS = PROJECT_ROOT / "data" / "answers" / "faq.yml"
REQUIRED_FACTS = PROJECT_ROOT / "data" / "answers" / "required_facts.yml"
PREFIX = "utter_faq/"
NEIGHBOURS = PROJECT_ROOT / "data" / "answers" / "neighbours.yml"
NEIGHBOUR_PREFIX = "utter_neighbour/"
GLOSSARY = PROJECT_ROOT / "data" / "answers" / "glossary.yml"
# a reply on a neighbouring subject says who to ask
REFERRAL_WORDS = ("zorgcoördinator", "mentor", "decaan", "leerkracht", "administratie",
                  "aanmelding", "website", "leerplichtambtenaar", "basisschool")
EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2

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
        raise ContentFileError(f"{what} {path} kan niet worden gelezen ({exc.strerror}).") \
            from None
    except UnicodeDecodeError:
        raise ContentFileError(f"{what} {path} is geen UTF-8-tekst.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" rond regel {mark.line + 1}" if mark is not None else ""
        raise ContentFileError(
            f"{what} {path} is geen geldige YAML{where}. Kijk of de inspringing klopt en of "
            "de tekst na 'text: >-' op een nieuwe, ingesprongen regel begint."
        ) from None


def load_required_facts(path: Path = REQUIRED_FACTS,
                        section: str = "topics") -> dict[str, list[Fact]]:
    data = _read_yaml(path, "De checklist")
    topics = data.get(section) if isinstance(data, dict) else None
    if not isinstance(topics, dict) or not topics:
        raise ContentFileError(f"De checklist {path} heeft geen '{section}:'.")
    result: dict[str, list[Fact]] = {}
    for topic, facts in topics.items():
        if not isinstance(facts, list):
            raise ContentFileError(f"De checklist: onderwerp '{topic}' heeft geen lijst feiten.")
        parsed = []
        for entry in facts:
            alternatives = entry.get("any") if isinstance(entry, dict) else None
            if not isinstance(alternatives, list) or not alternatives:
                raise ContentFileError(
                    f"De checklist: een feit bij '{topic}' heeft geen 'any:'-lijst.")
            parsed.append(Fact(
                str(entry.get("fact") or "(zonder omschrijving)"),
                tuple(tuple(str(p) for p in (alt if isinstance(alt, list) else [alt]))
                      for alt in alternatives),
            ))
        result[str(topic)] = parsed
    return result


def load_answers(path: Path = ANSWERS, prefix: str = PREFIX) -> dict[str, list[dict[str, Any]]]:
    """topic -> the answer variants (each a dict with 'text' and maybe 'buttons')."""
    data = _read_yaml(path, "Het antwoordenbestand")
    responses = data.get("responses") if isinstance(data, dict) else None
    if not isinstance(responses, dict):
        raise ContentFileError(f"Het antwoordenbestand {path} heeft geen 'responses:'.")
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
            problems.append(Problem(topic, "het antwoord ontbreekt in het antwoordenbestand."))
            continue
        for number, variant in enumerate(variants, start=1):
            text = str(variant.get("text") or "")
            which = f" (variant {number})" if len(variants) > 1 else ""
            if not text.strip():
                problems.append(Problem(topic, f"het antwoord{which} heeft geen tekst."))
                continue
            for fact in facts:
                if not fact_present(fact, text):
                    example = " + ".join(f'"{p}"' for p in fact.alternatives[0])
                    problems.append(Problem(
                        topic,
                        f"het antwoord{which} mist het feit \"{fact.description}\". "
                        f"Zet dit er weer in (bijvoorbeeld met de woorden {example}).",
                    ))
            informal = INFORMAL.search(text)
            if informal:
                problems.append(Problem(
                    topic, f"het antwoord{which} gebruikt \"{informal.group(0)}\"; spreek "
                    "ouders aan met \"u\"."))
            for button in variant.get("buttons") or []:
                payload = str((button or {}).get("payload") or "")
                for target in _TOPIC_PAYLOAD.findall(payload):
                    if target not in answers:
                        problems.append(Problem(
                            topic, f"de knop \"{(button or {}).get('title')}\" verwijst naar "
                            f"onbekend onderwerp '{target}'."))
    for topic in answers:
        if topic not in required:
            problems.append(Problem(
                topic, "dit onderwerp staat niet in de checklist data/answers/"
                "required_facts.yml; vraag de beheerder de feiten toe te voegen."))
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
                problems.append(Problem(
                    f"neighbour/{subject}", "het antwoord zegt niet bij wie de ouder terecht "
                    "kan (bijvoorbeeld de mentor of de zorgcoördinator)."))
            if text in lwoo_texts:
                problems.append(Problem(
                    f"neighbour/{subject}", "het antwoord is een van de lwoo-antwoorden; "
                    "schrijf een eigen antwoord over dit onderwerp."))
    return problems


def check_glossary(path: Path = GLOSSARY) -> list[Problem]:
    from core.glossary import load_glossary

    try:
        terms = load_glossary(path)
    except (OSError, ValueError) as exc:
        return [Problem("woordenlijst", f"{path} is niet leesbaar: {exc}")]
    problems = []
    for term in terms:
        informal = INFORMAL.search(term.explanation)
        if informal:
            problems.append(Problem(f"woordenlijst/{term.term}", f"de uitleg gebruikt "
                                    f"\"{informal.group(0)}\"; spreek ouders aan met \"u\"."))
    return problems


def check_message_texts(path: Path | None = None) -> list[Problem]:
    """The texts the code puts together (data/answers/messages.yml): placeholders the
    code fills, u-vorm, length (:func:`core.texts.check_messages`)."""
    from core.texts import MESSAGES_FILE, TextsError, check_messages, load_messages

    try:
        found = load_messages(path or MESSAGES_FILE)
    except TextsError as exc:
        raise ContentFileError(str(exc)) from exc
    problems = [Problem(f"bericht/{key}", problem) for key, problem in check_messages(found)]
    for key, facts in load_required_facts(REQUIRED_FACTS, "messages").items():
        message = found.get(key)
        if message is None:
            problems.append(Problem(f"bericht/{key}", "de tekst ontbreekt in messages.yml."))
            continue
        for fact in facts:
            if not fact_present(fact, message.text):
                example = " + ".join(f'"{p}"' for p in fact.alternatives[0])
                problems.append(Problem(
                    f"bericht/{key}", f"de tekst mist het feit \"{fact.description}\". Zet "
                    f"dit er weer in (bijvoorbeeld met {example})."))
    return problems


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
        return False, f"rasa data validate kon niet draaien ({type(exc).__name__})."
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
    listed = [f"{language}: {row['missing']} ontbreken, {row['outdated']} verouderd, "
              f"{row['concept']} nog niet gecontroleerd"
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
        print(f"FOUT: {answers_path} is niet in orde ({len(problems)} probleem/problemen):",
              file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print("Pas het antwoord aan en draai daarna opnieuw `make check-content`. "
              "Tot dan gaat de wijziging niet live.", file=sys.stderr, flush=True)
        return EXIT_PROBLEMS
    count = sum(len(facts) for facts in required.values())
    print(f"Antwoorden in orde: {len(required)} onderwerpen, {count} verplichte feiten "
          "gevonden.", flush=True)
    count = sum(len(facts) for facts in neighbour_facts.values())
    print(f"Aangrenzende onderwerpen in orde: {len(neighbour_facts)} onderwerpen, {count} "
          "verplichte feiten gevonden; woordenlijst en berichten (messages.yml) in orde.",
          flush=True)
    print("Vertalingen (python -m bot translations status --all geeft de lijst):", flush=True)
    for line in translation_status:
        print(f"  {line}", flush=True)
    if not validate:
        return EXIT_OK
    print("Trainingsdata controleren (rasa data validate) …", flush=True)
    ok, output = validate_data(answers_path)
    if not ok:
        print("FOUT: de trainingsdata is niet geldig (rasa data validate --fail-on-warning):",
              file=sys.stderr)
        print("\n".join(output.splitlines()[-40:]), file=sys.stderr, flush=True)
        return EXIT_PROBLEMS
    print("Trainingsdata geldig. De wijziging kan live (`make run` traint opnieuw).",
          flush=True)
    return EXIT_OK
