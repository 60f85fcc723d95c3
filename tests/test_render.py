from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.deliver.render import TELEGRAM_LIMIT, render_alert, summarise, utf16_len
from bot.types import Alert

WHEN = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)
OUR_TAGS = re.compile(r"</?(b|i|a)( href=\"[^\"<>]*\")?>")


def alert(
    title: str = "Bamako et Pékin",
    summary: str = "Texte.",
    link: str | None = None,
    source: str = "Studio Tamani",
    language: str = "fr",
) -> Alert:
    return Alert(
        delivery_id=1,
        subscriber_id=1,
        chat_id=1,
        language=language,
        title=title,
        link=link,
        source=source,
        published=WHEN,
        summary=summary,
        topics=("security", "diplomacy"),
        terms=("sécurité", "ambassadeur"),
    )


def only_our_markup(message: str) -> bool:
    """After removing our own tags no '<' or '>' may remain; '&' only as an entity."""
    rest = OUR_TAGS.sub("", message)
    return (
        "<" not in rest and ">" not in rest and not re.search(r"&(?!(lt|gt|amp|quot|#x27);)", rest)
    )


def test_alert_has_source_date_linked_title_summary_topics_and_terms() -> None:
    text = render_alert(
        alert(link="https://example.org/a", summary="Une phrase. Deux. Trois. Quatre.")
    )
    assert "Studio Tamani · 23 févr. 2026" in text
    assert '<a href="https://example.org/a"><b>Bamako et Pékin</b></a>' in text
    assert "Une phrase. Deux. Trois." in text and "Quatre" not in text
    assert "#security #diplomacy" in text and "sécurité, ambassadeur" in text


@pytest.mark.parametrize(
    "title",
    [
        "<script>alert(1)</script>",
        "R&D < budget > 5 & co",
        "&amp;lt;b&amp;gt;",
        '"quoted" <a href=x>',
    ],
)
def test_hostile_titles_are_escaped(title: str) -> None:
    assert only_our_markup(render_alert(alert(title=title, summary=title)))


def test_javascript_links_are_not_linked() -> None:
    text = render_alert(alert(link="javascript:alert(1)"))
    assert "href" not in text


def test_a_ten_thousand_character_summary_fits() -> None:
    text = render_alert(alert(summary="🇲🇱 Coopération é\u0301 " * 800))
    assert utf16_len(text) <= TELEGRAM_LIMIT


def test_summary_cuts_at_sentence_boundary() -> None:
    assert summarise("Première phrase. Deuxième ! Troisième ? Quatrième.") == (
        "Première phrase. Deuxième ! Troisième ?"
    )
    long_one = "mot " * 400
    assert summarise(long_one).endswith("…") and len(summarise(long_one)) <= 601


@settings(max_examples=150, deadline=None)
@given(title=st.text(max_size=6000), summary=st.text(max_size=12000), source=st.text(max_size=300))
def test_render_never_exceeds_the_limit_and_escapes_everything(
    title: str, summary: str, source: str
) -> None:
    text = render_alert(
        alert(title=title, summary=summary, source=source, link="https://example.org/x?a=1&b=2")
    )
    assert utf16_len(text) <= TELEGRAM_LIMIT
    assert only_our_markup(text)


@pytest.mark.parametrize(
    ("language", "header", "terms"),
    [
        pytest.param("fr", "Studio Tamani · 23 févr. 2026", "termes\u00a0: ", id="French"),
        pytest.param("en", "Studio Tamani · 23 Feb 2026", "terms: ", id="English"),
        pytest.param("de", "Studio Tamani · 23 Feb 2026", "terms: ", id="no file: English"),
    ],
)
def test_the_alerts_words_are_the_readers_language(language: str, header: str, terms: str) -> None:
    text = render_alert(alert(language=language))
    assert header in text and f"· {terms}<i>sécurité, ambassadeur</i>" in text


def test_messages_are_packed_by_the_text_telegram_counts() -> None:
    """Telegram's 4,096 are counted after HTML parsing: a line's link and tags are free,
    an entity is one character. Lines with long links pack by their visible text."""
    from bot.deliver.render import html_to_console, pack_messages, split_messages, visible_len

    href = "https://news.example/" + "a" * 300
    line = f'• <a href="{href}">Dépêche &amp; suite</a> — <i>Le Sahel</i>'
    assert visible_len(line) == len("• Dépêche & suite — Le Sahel")
    messages = split_messages("<b>Résumé</b>", [line] * 200)
    assert all(visible_len(m) <= TELEGRAM_LIMIT for m in messages)
    assert any(utf16_len(m) > TELEGRAM_LIMIT for m in messages)  # raw HTML may be longer
    per_message = [m.count("Dépêche") for m in messages]
    assert sum(per_message) == 200 and per_message[0] > TELEGRAM_LIMIT // 330  # not by raw
    assert html_to_console(messages[0]).startswith("Résumé\n• Dépêche & suite")
    tagged = pack_messages("", [(line, n) for n in range(1, 41)], most=15)
    assert [len(tags) for _, tags in tagged] == [15, 15, 10]
