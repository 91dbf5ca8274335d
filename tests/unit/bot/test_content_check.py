"""``check-content``: every FAQ answer keeps its facts; the message names topic and fact."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.__main__ import main
from bot.content_check import (
    ANSWERS,
    check_answers,
    load_answers,
    load_required_facts,
)


@pytest.fixture
def answers_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "faq.yml"
    shutil.copyfile(ANSWERS, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_the_committed_answers_carry_every_fact(capsys) -> None:
    assert check_answers(load_answers(), load_required_facts()) == []
    assert main(["check-content", "--skip-validate"]) == 0
    assert "Antwoorden in orde: 6 onderwerpen" in capsys.readouterr().out


def test_an_answer_that_lost_a_sentence_fails_naming_topic_and_fact(
    answers_copy: Path, capsys
) -> None:
    # a staff member shortens the budget answer and drops the sentence about vakhulp
    edit(answers_copy, "Daarnaast betaalt de school er vakhulp van en begeleiding van leerlingen\n"
         "        met leerproblemen en/of sociaal-emotionele problemen, met trainingen of\n"
         "        individuele begeleiding.", "")
    assert main(["check-content", "--answers", str(answers_copy), "--skip-validate"]) == 1
    err = capsys.readouterr().err
    assert "Onderwerp 'budget'" in err
    assert 'mist het feit "de school betaalt er ook vakhulp van"' in err
    assert "sociaal-emotionele problemen" in err
    assert "niet live" in err
    assert "'hertoets'" not in err  # only the changed topic is reported


def test_every_topic_checks_every_fact_separately(answers_copy: Path) -> None:
    edit(answers_copy, "Voor lwoo-leerlingen is een handelingsplan\n        wettelijk verplicht. ",
         "")
    problems = check_answers(load_answers(answers_copy), load_required_facts())
    assert [(p.topic, "wettelijk verplicht" in p.message) for p in problems] == \
        [("handelingsplan", True)]


def test_informal_you_and_unknown_topics_are_caught(answers_copy: Path) -> None:
    edit(answers_copy, "kunt u dat vragen aan de mentor", "kun je dat vragen aan de mentor")
    edit(answers_copy, '\'/faq{{"faq_topic": "wat_is_lwoo"}}\'\n\n  utter_faq/rugzak',
         '\'/faq{{"faq_topic": "wat_is"}}\'\n\n  utter_faq/rugzak')
    messages = [str(p) for p in check_answers(load_answers(answers_copy),
                                              load_required_facts())]
    assert any("'regering'" in m and '"je"' in m and '"u"' in m for m in messages)
    assert any("onbekend onderwerp 'wat_is'" in m for m in messages)


def test_a_removed_answer_and_broken_yaml_are_reported(answers_copy: Path, capsys) -> None:
    text = answers_copy.read_text(encoding="utf-8")
    start = text.index("  utter_faq/regering:")
    end = text.index("  utter_faq/rugzak:")
    answers_copy.write_text(text[:start] + text[end:], encoding="utf-8")
    assert main(["check-content", "--answers", str(answers_copy), "--skip-validate"]) == 1
    assert "Onderwerp 'regering'" in capsys.readouterr().err
    answers_copy.write_text(text.replace("  utter_faq/budget:", "utter_faq/budget:\n - x"),
                            encoding="utf-8")
    assert main(["check-content", "--answers", str(answers_copy), "--skip-validate"]) == 2
    assert "geen geldige YAML" in capsys.readouterr().err


def test_neighbour_replies_need_their_facts_a_referral_and_no_lwoo_answer() -> None:
    # issue 13: data/answers/neighbours.yml is checked like the six answers
    from bot.content_check import (
        NEIGHBOUR_PREFIX,
        NEIGHBOURS,
        check_neighbours,
        load_answers,
        load_required_facts,
    )

    faq = load_answers()
    neighbours = load_answers(NEIGHBOURS, NEIGHBOUR_PREFIX)
    facts = load_required_facts(section="neighbours")
    assert len(neighbours) >= 12 and check_neighbours(neighbours, facts, faq) == []
    broken = {**neighbours,
              "tlv": [{"text": "Een tlv is een papier."}],  # facts and referral lost
              "opp": faq["handelingsplan"]}  # a lwoo answer
    messages = [str(p) for p in check_neighbours(broken, facts, faq)]
    assert any("neighbour/tlv" in m and "samenwerkingsverband" in m for m in messages)
    assert any("neighbour/tlv" in m and "bij wie" in m for m in messages)
    assert any("neighbour/opp" in m and "lwoo-antwoorden" in m for m in messages)
