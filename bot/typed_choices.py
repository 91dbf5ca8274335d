"""Typed answers to buttons, on every channel.

A parent on WhatsApp cannot click, and many parents type anyway. When the bot's previous
turn offered buttons, a typed message that clearly picks one of them is handled as if the
button was clicked:

* the button's own text ("Wat is lwoo?", "Sanne"), also inside a short message
  ("die van Daan", "Daan graag") for one-word titles such as a child's name;
* its place in the list: "1", "2.", "nummer 2", "optie 3", "de eerste", "tweede",
  "de laatste", and "de andere" when only one option was offered;
* yes/no in everyday Dutch ("ja hoor", "jawel", "klopt", "nee hoor", "neen",
  "liever niet", ...) when the buttons are a yes/no question (``/affirm`` and
  ``/deny``, or the 👍/👎 feedback buttons).

Only payloads the bot itself offered in its last turn can be chosen this way, so this
gives a parent nothing a click would not. It runs in Rasa's message processor before
NLU (wrapped into Rasa by :mod:`bot.compat`), with the conversation's tracker.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

ORDINALS = {
    "1": 1, "een": 1, "eerste": 1, "1e": 1, "eerst": 1,
    "2": 2, "twee": 2, "tweede": 2, "2e": 2,
    "3": 3, "drie": 3, "derde": 3, "3e": 3,
    "4": 4, "vier": 4, "vierde": 4, "4e": 4,
    "5": 5, "vijf": 5, "vijfde": 5, "5e": 5,
    "6": 6, "zes": 6, "zesde": 6, "6e": 6,
    "7": 7, "zeven": 7, "zevende": 7, "7e": 7,
}
_FILLER = {
    "de", "het", "die", "dat", "nummer", "optie", "keuze", "graag", "maar", "doe", "ik",
    "kies", "neem", "wil", "van", "en", "over", "alstublieft", "aub", "svp", "dan", "nr",
    "knop", "hoor", "even", "ja", "ok", "oke", "is", "bedoel", "zou", "willen", "status",
}
YES = {
    "ja", "ja hoor", "jawel", "klopt", "dat klopt", "ja klopt", "ja graag", "graag",
    "prima", "oke", "ok", "okay", "goed", "is goed", "dat is goed", "prima hoor", "zeker",
    "jazeker", "ja zeker", "jep", "jup", "yes", "yep", "akkoord", "doe maar", "ja doe maar",
    "ja prima", "ja dat is goed", "ja hoor dat is goed", "ja natuurlijk", "natuurlijk",
    "inderdaad", "ja dat wil ik", "dat wil ik", "ja graag hoor", "ja dank u", "ja, graag",
    "👍", "top", "ja top", "helemaal goed", "ja dat mag", "mag", "ja hoor prima",
}
NO = {
    "nee", "nee hoor", "neen", "nee dank u", "nee dank je", "nee bedankt", "liever niet",
    "nee liever niet", "niet nodig", "hoeft niet", "nee hoeft niet", "nope", "nah",
    "neuh", "nee joh", "zeker niet", "nee dat hoeft niet", "nee niet nodig", "welnee",
    "nee dat wil ik niet", "niet doen", "nee, dank u", "nee niet", "👎", "nee hoor dank u",
    "nee dat klopt niet", "klopt niet", "dat klopt niet", "nou nee",
}
_OTHER = ("andere", "ander", "de andere", "het andere kind", "de ander", "en de andere",
          "die andere", "en de ander", "andere kind")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower().strip()
    text = re.sub(r"[!?.,:;()\"'`´]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


# buttons under an answer that are no question: "ok" after a translated answer is not a
# request for the Dutch original ("Nederlandse tekst") or the simple-Dutch version
NOT_A_QUESTION = frozenset({"/show_dutch", "/say_simpler"})


def _is_yes(payload: str) -> bool:
    return payload == "/affirm" or '"yes"' in payload


def _is_no(payload: str) -> bool:
    return payload == "/deny" or '"no"' in payload


def resolve(text: str, buttons: Sequence[tuple[str, str]]) -> str | None:
    """The payload of the button ``text`` picks, or None."""
    if not buttons or not text or text.lstrip().startswith("/") or len(text) > 80:
        return None
    said = normalize(text)
    if not said:
        return None
    titles = [normalize(title) for title, _ in buttons]
    payloads = [payload for _, payload in buttons]
    if said in titles:
        return payloads[titles.index(said)]
    yes = [p for p in payloads if _is_yes(p)]
    no = [p for p in payloads if _is_no(p)]
    if yes and no:
        if said in YES:
            return yes[0]
        if said in NO:
            return no[0]
    words = said.split()
    meaningful = [w for w in words if w not in _FILLER]
    if said.startswith("de laatste") or said in ("laatste", "de laatste"):
        return payloads[-1]
    if len(meaningful) == 1 and meaningful[0] in ORDINALS and len(words) <= 4:
        position = ORDINALS[meaningful[0]]
        if 1 <= position <= len(payloads):
            return payloads[position - 1]
    if len(payloads) == 1 and (said in _OTHER or said in YES) \
            and payloads[0] not in NOT_A_QUESTION:
        return payloads[0]  # "Wilt u ook de status van Daan zien?" [Daan] -> "ja"
    if len(words) <= 5:  # a one-word title inside a short message: "die van Daan"
        hits = [i for i, title in enumerate(titles) if " " not in title and title in words]
        if len(hits) == 1:
            return payloads[hits[0]]
    return None


def last_buttons(events: Sequence[Any]) -> list[tuple[str, str]]:
    """(title, payload) of the buttons in the bot's turn since the last user message."""
    pairs: list[tuple[str, str]] = []
    for event in reversed(list(events)):
        name = getattr(event, "type_name", None)
        if name == "user":
            break
        if name == "bot":
            data = getattr(event, "data", None) or {}
            for button in reversed(data.get("buttons") or []):
                title, payload = button.get("title"), button.get("payload")
                if isinstance(title, str) and isinstance(payload, str):
                    pairs.append((title, payload))
    pairs.reverse()
    return pairs
