"""Conversations that leave the script (issue 14), against the real servers on three
channels: REST, the website widget's socket.io channel and WhatsApp (Twilio stand-in).

Each case is a different conversation: several values in one message, digressions
inside the form, corrections (also after the code was requested), typed answers to
buttons, "weet ik niet", cancelling and picking up again, contextual follow-ups, and the
other child / "wat betekent dat?" after the status. A turn is (what the parent types,
texts the answer must contain, texts it must not contain). Placeholders: {number},
{name}, {dmy} ({slash}, {short}, {words}, {abbr}, {iso}: the birth date written in
other ways), {number_sp}/{number_dash}, {code}/{code_sp}/{code_dash} (the newest
one-time code from the outbox), {other}: an unknown pupil number.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date

import pytest

from core.formats import DUTCH_MONTHS
from tests.support.bot import BotServer, start_bot, stop_bot
from tests.support.canary import CANARY
from tests.support.messaging import messaging_env, new_phone, whatsapp_say
from tests.support.provider_standin import ProviderStandIn
from tests.support.widget_client import SocketioTestClient

pytestmark = pytest.mark.e2e

ORIGIN = "https://www.compaen.example"
CODE_SENT = "Als het leerlingnummer en de geboortedatum kloppen"
ASK_NUMBER = "Wat is het leerlingnummer"
ASK_DATE = "Wat is de geboortedatum"
ASK_CODE = "Typ hier de code"
BEDOELT = "Bedoelt u"
NOT_IN_TEXT = "Dat staat niet in de informatie die ik heb"
LWOO = "Leerwegondersteunend onderwijs (lwoo) is bedoeld"
START = "krijgt mijn zoon lwoo?"

Turn = tuple[str, tuple[str, ...], tuple[str, ...]]


def t(text: str, *want: str, avoid: tuple[str, ...] = ()) -> Turn:
    return (text, want, avoid)


@dataclass(frozen=True)
class Pupil:
    number: str
    born: date
    email: str
    name: str


SINGLE = [  # demo pupils with one child per e-mail address (bot/demo/leerlingen.csv)
    Pupil("100292", date(2012, 10, 28), "mulder.m@example.org", "Mila"),
    Pupil("100245", date(2013, 7, 21), "yilmaz.fam@example.org", "Noah"),
    Pupil("100251", date(2013, 1, 30), "e.bos.ouder@example.org", "Emma"),
    Pupil("100263", date(2012, 12, 9), "peters.thuis@example.org", "Liam"),
    Pupil("100270", date(2013, 5, 5), "elamrani@example.org", "Julia"),
    Pupil("100284", date(2013, 9, 17), "smit.ouders@example.org", "Finn"),
    Pupil("100305", date(2013, 2, 11), "kaya.fam@example.org", "Sem"),
    Pupil(CANARY["pupil_number"], date(2012, 2, 29), CANARY["email"], CANARY["first_name"]),
]
SANNE = Pupil("100231", date(2013, 3, 14), "ouder.devries@example.org", "Sanne")
DAAN = Pupil("100232", date(2011, 11, 2), "ouder.devries@example.org", "Daan")
_unknown = itertools.count(700001)
_requests: Counter[str] = Counter()  # code requests per pupil number (spread the load)


def next_single() -> Pupil:
    """The single-child pupil with the fewest code requests so far."""
    return min(SINGLE, key=lambda pupil: _requests[pupil.number])


def fill(text: str, pupil: Pupil, other: str) -> str:
    born = pupil.born
    month = DUTCH_MONTHS[born.month - 1]
    return text.format(
        number=pupil.number, name=pupil.name, other=other,
        number_sp=f"{pupil.number[:3]} {pupil.number[3:]}",
        number_dash=f"{pupil.number[:3]}-{pupil.number[3:]}",
        dmy=born.strftime("%d-%m-%Y"), slash=f"{born.day}/{born.month}/{born.year}",
        short=f"{born.day}-{born.month}-{born.year % 100:02d}",
        words=f"{born.day} {month} {born.year}", abbr=f"{born.day} {month[:3]} {born.year}",
        iso=born.isoformat(), code="{code}", code_sp="{code_sp}", code_dash="{code_dash}",
    )


Say = Callable[[str], str]


def converse(bot: BotServer, say: Say, turns: list[Turn], pupil: Pupil) -> list[str]:
    """Run one conversation; every answer checked. Returns the transcript.

    A "code sent" reply mails a code only when the data matched (a wrong date gets the
    same reply and no mail), so after such a reply a new mail is waited for briefly,
    and a "{code}" turn uses the newest code mailed during this conversation."""
    mailed = len(bot.outbox_codes(pupil.email))
    start = mailed
    other = str(next(_unknown))
    transcript = []
    for text, want, avoid in turns:
        message = fill(text, pupil, other)
        if "{code" in message:
            code = bot.wait_for_code(pupil.email, max(start, mailed - 1))
            message = message.format(code=code, code_sp=f"{code[:3]} {code[3:]}",
                                     code_dash=f"{code[:3]}-{code[3:]}")
        answer = say(message)
        transcript += [f"U:   {message}", f"Bot: {answer}"]
        if CODE_SENT in answer:
            _requests[pupil.number] += answer.count(CODE_SENT)
            try:
                bot.wait_for_code(pupil.email, mailed, timeout=3)
                mailed = len(bot.outbox_codes(pupil.email))
            except AssertionError:
                pass  # the data did not match: the same reply, no mail (by design)
        for expected in want:
            assert fill(expected, pupil, other) in answer, (message, expected, transcript)
        for unexpected in avoid:
            assert fill(unexpected, pupil, other) not in answer, (message, unexpected,
                                                                   transcript)
    return transcript


# ------------------------------------------------------------------ the conversations

VERIFY_END = (t("{code}", "Status van {name}"),)

SEVERAL_VALUES: dict[str, list[Turn]] = {
    "number and date together": [
        t(START, ASK_NUMBER), t("{number} {dmy}", CODE_SENT, ASK_CODE), *VERIFY_END],
    "date first, then the number": [
        t(START, ASK_NUMBER), t("{words}", ASK_NUMBER), t("{number}", CODE_SENT), *VERIFY_END],
    "with words around them": [
        t(START, ASK_NUMBER),
        t("het leerlingnummer is {number} en ze is geboren op {slash}", CODE_SENT),
        *VERIFY_END],
    "abbreviated month, spaced number": [
        t(START, ASK_NUMBER), t("geboren {abbr}, nummer {number_sp}", CODE_SENT),
        *VERIFY_END],
    "two-digit year, dashed number": [
        t(START, ASK_NUMBER), t("{short} {number_dash}", CODE_SENT), *VERIFY_END],
    "ISO date, then a code with spaces": [
        t(START, ASK_NUMBER), t("geboortedatum {iso} leerlingnummer {number}", CODE_SENT),
        t("{code_sp}", "Status van {name}")],
    "code with a dash": [
        t(START, ASK_NUMBER), t("{number}", ASK_DATE), t("{dmy}", CODE_SENT),
        t("{code_dash}", "Status van {name}")],
    "everything in the first message": [
        t("krijgt mijn kind lwoo? leerlingnummer {number}, geboren {dmy}", CODE_SENT,
          ASK_CODE, avoid=(ASK_NUMBER,)), *VERIFY_END],
    "an impossible date is refused, then a good one": [
        t(START, ASK_NUMBER), t("{number}", ASK_DATE), t("31-02-2013", "Ik herken die datum"),
        t("{words}", CODE_SENT), *VERIFY_END],
}

DIGRESSIONS: dict[str, list[Turn]] = {
    "FAQ question while the number is asked": [
        t(START, ASK_NUMBER), t("wat is lwoo eigenlijk?", LWOO, ASK_NUMBER),
        t("{other}", ASK_DATE), t("{dmy}", CODE_SENT)],
    "FAQ question while the date is asked": [
        t(START, ASK_NUMBER), t("{other}", ASK_DATE),
        t("is lwoo een rugzak?", "lwoo is geen rugzak", ASK_DATE), t("{dmy}", CODE_SENT)],
    "FAQ question while the code is asked, then the code": [
        t(START, ASK_NUMBER), t("{number} {dmy}", CODE_SENT),
        t("waarom wordt mijn kind na de zomer opnieuw getoetst?", "zomervakantie", ASK_CODE),
        *VERIFY_END],
    "out-of-scope question inside the form": [
        t(START, ASK_NUMBER), t("wanneer is de kerstvakantie?", "administratie", ASK_NUMBER),
        t("{other} {dmy}", CODE_SENT)],
    "bot challenge inside the form": [
        t(START, ASK_NUMBER), t("{other}", ASK_DATE),
        t("ben jij een robot?", "digitale assistent", ASK_DATE)],
    "a follow-up question inside the form": [
        t(START, ASK_NUMBER), t("wat is een handelingsplan?", "handelingsplan", ASK_NUMBER),
        t("moet dat?", "wettelijk verplicht", ASK_NUMBER, avoid=(BEDOELT,)),
        t("{other} {dmy}", CODE_SENT)],
    "greeting and thanks inside the form": [
        t(START, ASK_NUMBER), t("hallo", "Goedendag", ASK_NUMBER),
        t("{other}", ASK_DATE), t("dank u wel", "Graag gedaan", ASK_DATE)],
    "a question never fills a slot": [
        t(START, ASK_NUMBER), t("waar vind ik informatie over het lwoo-budget?", ASK_NUMBER,
                                avoid=("bestaat uit 6 cijfers",)),
        t("{number}", ASK_DATE), t("{dmy}", CODE_SENT), *VERIFY_END],
}

CORRECTIONS: dict[str, list[Turn]] = {
    "wrong number noticed one turn later": [
        t(START, ASK_NUMBER), t("{other}", ASK_DATE),
        t("oeps, dat moet {number} zijn", "leerlingnummer aangepast", ASK_DATE),
        t("{dmy}", CODE_SENT), *VERIFY_END],
    "wrong date corrected after the code was requested": [
        t(START, ASK_NUMBER), t("{number} 01-01-2013", CODE_SENT),
        t("de datum klopt niet, het is {dmy}", "geboortedatum aangepast", CODE_SENT),
        *VERIFY_END],
    "wrong number corrected after the code was requested": [
        t(START, ASK_NUMBER), t("{other} {dmy}", CODE_SENT),
        t("sorry, het leerlingnummer moet {number} zijn", "leerlingnummer aangepast",
          CODE_SENT), *VERIFY_END],
    "wrong date corrected before the number": [
        t(START, ASK_NUMBER), t("01-01-2013", ASK_NUMBER),
        t("nee, de geboortedatum is {words}", "geboortedatum aangepast", ASK_NUMBER),
        t("{number}", CODE_SENT), *VERIFY_END],
}

TYPED_BUTTONS: dict[str, list[Turn]] = {
    "a menu button by its place": [
        t("hallo", "Goedendag"), t("1", LWOO)],
    "a menu button by its text": [
        t("hallo", "Goedendag"), t("status van mijn kind", ASK_NUMBER)],
    "a suggestion under an answer by an ordinal word": [
        t("wat is lwoo?", LWOO), t("de tweede", "algemene bekostiging", avoid=(BEDOELT,))],
    "consent to the hand-over in everyday Dutch": [
        t("ik wil iemand spreken", "Gaat u daarmee akkoord"),
        t("ja hoor", "Wat is uw vraag")],
    "no to the hand-over in everyday Dutch": [
        t("kan iemand mij bellen?", "Gaat u daarmee akkoord"),
        t("neen", avoid=("Wat is uw vraag",))],
    "contact button under out-of-scope typed": [
        t("wanneer is de kerstvakantie?", "administratie"),
        t("contact met school", "Gaat u daarmee akkoord")],
}

DONT_KNOW: dict[str, list[Turn]] = {
    "no pupil number at hand, then the hand-over": [
        t(START, ASK_NUMBER),
        t("weet ik niet", "ouderportaal", "administratie",
          avoid=(ASK_NUMBER, "bestaat uit 6 cijfers")),
        t("ja", "Gaat u daarmee akkoord")],
    "no e-mail, then the code after all (no wrong try counted)": [
        t(START, ASK_NUMBER), t("{number} {dmy}", CODE_SENT),
        t("000000", "nog 4 keer"),
        t("ik heb geen mail ontvangen", "spam", "administratie", avoid=("nog 3 keer",)),
        t("kunt u toch de status van mijn kind opzoeken?", ASK_CODE, avoid=(ASK_NUMBER,)),
        *VERIFY_END],
    "birth date not known, picked up again later": [
        t(START, ASK_NUMBER), t("{number}", ASK_DATE),
        t("dat weet ik niet precies", "administratie", avoid=(ASK_DATE,)),
        t("wat is lwoo?", LWOO),
        t("ik wil toch de status weten van mijn kind", ASK_DATE, avoid=(ASK_NUMBER,)),
        t("{dmy}", CODE_SENT), *VERIFY_END],
}

CANCEL: dict[str, list[Turn]] = {
    "laat maar, a question, then back without being asked again": [
        t(START, ASK_NUMBER), t("{number}", ASK_DATE),
        t("laat maar", "gestopt", avoid=(ASK_DATE,)), t("wat is een handelingsplan?",
                                                         "handelingsplan"),
        t("krijgt mijn kind nou lwoo?", ASK_DATE, avoid=(ASK_NUMBER,)),
        t("{dmy}", CODE_SENT), *VERIFY_END],
    "ik wil iets anders vragen while the code is asked": [
        t(START, ASK_NUMBER), t("{number} {dmy}", CODE_SENT),
        t("ik wil iets anders vragen", "gestopt", avoid=(ASK_CODE,)),
        t("is lwoo een rugzak?", "rugzak"),
        t("status van mijn kind", ASK_CODE, avoid=(ASK_NUMBER, ASK_DATE)), *VERIFY_END],
    "stop before anything was answered starts fresh": [
        t(START, ASK_NUMBER), t("stop", "gestopt"),
        t(START, "alleen nadat ik heb gecontroleerd", ASK_NUMBER)],
}

FOLLOWUPS: dict[str, list[Turn]] = {
    "handelingsplan: moet dat?": [
        t("wat is een handelingsplan?", "handelingsplan"),
        t("moet dat?", "wettelijk verplicht", avoid=(BEDOELT,))],
    "hertoets: is dat normaal?": [
        t("waarom wordt mijn zoon na de zomer opnieuw getoetst?", "zomervakantie"),
        t("is dat normaal?", "helemaal niet erg", avoid=(BEDOELT,)),
        t("hoe lang duurt dat?", "paar weken", avoid=(BEDOELT,))],
    "wat is lwoo: voor wie is dat?": [
        t("wat is lwoo?", LWOO), t("voor wie is dat?", "extra hulp", avoid=(BEDOELT,))],
    "budget: wie betaalt dat?": [
        t("waar gaat het lwoo-geld naartoe?", "klassen"),
        t("wie betaalt dat?", "algemene bekostiging", avoid=(BEDOELT,)),
        t("hoe doen jullie dat?", "Compaen vmbo", avoid=(BEDOELT,))],
    "regering: not in the school's text, said honestly": [
        t("bepaalt de overheid hoe lwoo eruitziet?", "zelf"),
        t("hoe lang duurt dat?", NOT_IN_TEXT, "zorgcoördinator", avoid=(BEDOELT,))],
    "rugzak: is dat erg? and what does it mean": [
        t("is lwoo een rugzakje?", "rugzak"),
        t("is dat erg?", "zo bedoeld", avoid=(BEDOELT,)),
        t("wat houdt dat in?", "leerlinggebonden", avoid=(BEDOELT,))],
}


def _verify_siblings(first: str) -> list[Turn]:
    return [t(START, ASK_NUMBER), t("{number} {dmy}", CODE_SENT),
            t("{code}", "Over welk kind"), t(first, "Status van")]


AFTER_STATUS: dict[str, tuple[Pupil | None, list[Turn]]] = {
    "siblings: a child chosen by typing the name": (SANNE, [
        *_verify_siblings("Daan"), t("Sanne", "Status van Sanne")]),
    "siblings: by an ordinal word, then de andere": (SANNE, [
        *_verify_siblings("de eerste"), t("en de andere?", "Status van Daan",
                                           avoid=(CODE_SENT, ASK_NUMBER))]),
    "siblings: by a digit, then en mijn dochter": (DAAN, [
        *_verify_siblings("2"), t("en mijn dochter?", "Status van Sanne",
                                  avoid=(CODE_SENT, ASK_NUMBER))]),
    "siblings: ja to the other child": (DAAN, [
        *_verify_siblings("Sanne"), t("ja graag", "Status van Daan")]),
    "what the status means": (None, [
        t(START, ASK_NUMBER), t("{number} {dmy}", CODE_SENT), *VERIFY_END,
        t("wat betekent dat?", "Dat betekent", avoid=(BEDOELT, NOT_IN_TEXT))]),
}

REST_CASES: dict[str, tuple[Pupil | None, list[Turn]]] = {
    **{name: (None, turns) for group in (SEVERAL_VALUES, DIGRESSIONS, CORRECTIONS,
                                         TYPED_BUTTONS, DONT_KNOW, CANCEL, FOLLOWUPS)
       for name, turns in group.items()},
    **AFTER_STATUS,
}


@pytest.fixture(scope="module")
def bot(standin: ProviderStandIn, tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[BotServer]:
    server = start_bot(tmp_path_factory.mktemp("repair"), {
        "ALLOWED_ORIGINS": ORIGIN,
        **messaging_env(standin.url, telegram=False),
        # this module is about the conversation, not the limits (tests/unit/
        # test_verification*.py): one pupil is verified here more often than a parent would
        "VERIFY_CODES_PER_PUPIL": "100",
        "VERIFY_REQUESTS_PER_CONVERSATION": "10",
    })
    yield server
    stop_bot(server)


@pytest.mark.parametrize("name", sorted(REST_CASES))
def test_rest_conversation(bot: BotServer, name: str) -> None:
    pupil, turns = REST_CASES[name]
    sender = bot.new_sender("repair")
    converse(bot, lambda text: bot.texts(bot.say(sender, text)), turns,
             pupil or next_single())


WIDGET_CASES = {
    name: REST_CASES[name] for name in (
        "number and date together", "FAQ question while the date is asked",
        "wrong date corrected after the code was requested",
        "no pupil number at hand, then the hand-over",
        "laat maar, a question, then back without being asked again",
        "hertoets: is dat normaal?", "siblings: by an ordinal word, then de andere",
    )
}


@pytest.mark.parametrize("name", sorted(WIDGET_CASES))
def test_widget_conversation(bot: BotServer, name: str) -> None:
    pupil, turns = WIDGET_CASES[name]
    client = SocketioTestClient(bot.base_url, origin=ORIGIN)
    try:
        client.confirm()
        converse(bot, lambda text: "\n".join(client.say(text)), turns,
                 pupil or next_single())
    finally:
        client.close()


WHATSAPP_CASES = {
    name: REST_CASES[name] for name in (
        "with words around them", "FAQ question while the code is asked, then the code",
        "wrong number noticed one turn later", "consent to the hand-over in everyday Dutch",
        "a menu button by its place", "ik wil iets anders vragen while the code is asked",
        "budget: wie betaalt dat?", "siblings: a child chosen by typing the name",
        "what the status means",
    )
}


@pytest.mark.parametrize("name", sorted(WHATSAPP_CASES))
def test_whatsapp_conversation(bot: BotServer, standin: ProviderStandIn, name: str) -> None:
    """WhatsApp parents cannot click: every choice is typed."""
    pupil, turns = WHATSAPP_CASES[name]
    phone = new_phone()
    converse(bot, lambda text: whatsapp_say(bot, standin, phone, text), turns,
             pupil or next_single())


def test_enough_different_conversations() -> None:
    total = len(REST_CASES) + len(WIDGET_CASES) + len(WHATSAPP_CASES)
    assert total >= 60
    assert len({tuple(turns) for _, turns in REST_CASES.values()}) == len(REST_CASES)
