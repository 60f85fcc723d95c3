"""Hostile feed text, rendered by mcwatch and judged by the Bot API stand-in.

The stand-in applies Telegram's HTML rules strictly (every ``<``, ``>`` and ``&`` that is
not markup must be escaped; only Telegram's tags; 4096 UTF-16 units of visible text).
Alerts (and their "also reported by" edit) go through the real outbox and
``TelegramSender``; lists (/latest, /search) and the digest through the real handlers.
Nothing may be refused (a refused alert would fall back to plain text, so ``rejected``
must stay empty) and the reader must see the feed's words exactly as the feed wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.botapi import SentMessage, utf16_len
from tests.support.telegram import Conversation

FR, EN = 6001, 6002
NBSP = "\u00a0"  # French typography: a no-break space before : ; ? ! » and after «


@dataclass(frozen=True)
class Hostile:
    title: str
    summary: str = "Pékin et Bamako ont signé un accord."
    link: str | None = "https://news.example/a"
    source: str = "Le Sahel"


LONG = "Le barrage de Kénié & la Chine < 2030 > tout. " * 220  # ~10,000 characters
HOSTILE = [
    pytest.param(Hostile("<script>alert('x')</script> Pékin et Bamako"), id="script tags"),
    pytest.param(Hostile("Mali & China: R&D deal, AT&T-style"), id="bare ampersands"),
    pytest.param(Hostile("Growth < 5% as Beijing <-> Bamako trade <slows"), id="less-than"),
    pytest.param(Hostile("Trade > 2bn >> expected"), id="greater-than"),
    pytest.param(
        Hostile("&amp; &lt;b&gt; &#39; &nbsp; &bogus; are words here"), id="entities are text"
    ),
    pytest.param(
        Hostile("<b>bold</b> <a href='x'>link</a> <tg-spoiler>hidden"),
        id="Telegram's own tags are text",
    ),
    pytest.param(Hostile("Accord 🇲🇱🤝🇨🇳 énergie 🔋 👩🏽‍🔬 𝐌𝐚𝐥𝐢 𠀀"), id="emoji and astral"),
    pytest.param(
        Hostile("Ke\u0301nie\u0301 : barrage a\u0300 Se\u0301gou Z\u0336\u0324a\u0353"),
        id="combining characters",
    ),
    pytest.param(Hostile("مالي والصين توقعان اتفاقية \u202eevil\u202c \u200fok"), id="RTL"),
    pytest.param(Hostile("Pé\u200bkin\u200d et Ba\u200cmako\ufeff\u2060"), id="zero-width"),
    pytest.param(Hostile('Le "partenariat" et l\'« amitié » sino-malienne'), id="quotes"),
    pytest.param(Hostile("中国与马里签署合作协议"), id="Chinese"),
    pytest.param(Hostile("Pékin et Bamako", summary=LONG), id="10,000-character summary"),
    pytest.param(Hostile("Pékin et Bamako", summary="🇨🇳" * 5000), id="10,000 emoji summary"),
    pytest.param(
        Hostile("Pékin et Bamako", summary="e\u0301" * 5000), id="10,000 combining marks summary"
    ),
    pytest.param(
        Hostile("Pékin et Bamako", summary="<p>Bamako & Pékin</p> <b>" * 400),
        id="markup in a long summary",
    ),
    pytest.param(
        Hostile("Lien piégé", link="https://x.example/a\"b?c=<d>&e=f'g"),
        id="a link with quotes and brackets",
    ),
    pytest.param(
        Hostile("Lien javascript", link="javascript:alert(document.cookie)"),
        id="a javascript: link",
    ),
    pytest.param(
        Hostile("Lien JaVaScRiPt", link=" JaVaScRiPt:alert(1)"), id="a javascript: link in disguise"
    ),
    pytest.param(
        Hostile("Lien data", link="data:text/html,<script>alert(1)</script>"), id="a data: link"
    ),
    pytest.param(
        Hostile("Lien très long", link="https://x.example/" + "a" * 5000),
        id="a 5,000-character link",
    ),
    pytest.param(
        Hostile('"' * 300, link="https://x.example/?" + "a&" * 990),
        id="a title of quotes and a 2,000-character link of ampersands",
    ),
    pytest.param(
        Hostile("Source piégée", source='Le Monde <Afrique> & "Co"'), id="a hostile source name"
    ),
    pytest.param(Hostile("T" * 5000), id="a 5,000-character title"),
]


def shown(title: str, limit: int) -> str:
    """What of ``title`` a reader must see: whitespace folded, at most ``limit``
    characters before the cut (which ends with an ellipsis)."""
    folded = " ".join(title.split())
    return folded if utf16_len(folded) <= limit else folded[: limit // 2]


def assert_safe(message: SentMessage) -> None:
    text = message.text or ""
    for scheme in ("javascript:", "data:"):
        assert f'href="{scheme}' not in text.lower().replace(" ", "")
    assert utf16_len(message.plain or "") <= 4096


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_story_is_accepted_and_shown_literally(
    bot: Conversation, hostile: Hostile
) -> None:
    bot.register(FR, language="fr")  # as /start leaves a reader (tested in test_telegram)
    bot.publish(
        hostile.title,
        hostile.summary,
        link=hostile.link,
        source=hostile.source,
        terms=("chine", "<sécurité> & co"),
    )
    report = bot.deliver()
    latest = bot.say(FR, "/latest")
    assert bot.botapi.rejected == []
    assert (report.sent, report.failed) == (1, 0)

    alert = bot.botapi.messages_to(FR)[0]
    assert alert.parse_mode == "HTML"
    for message in (alert, *latest):
        assert_safe(message)
    plain = alert.plain or ""
    assert shown(hostile.title, 300) in plain
    assert " ".join(hostile.source.split())[:60] in plain
    assert f"termes{NBSP}: chine, <sécurité> & co" in plain
    assert shown(hostile.title, 300) in "\n".join(m.plain or "" for m in latest)


def test_hostile_search_words_are_echoed_literally(bot: Conversation) -> None:
    bot.register(FR, language="fr")
    bot.publish("Pékin & Bamako <signent>", "R&D <b>")
    found = bot.said(FR, "/search pékin bamako")
    assert bot.botapi.rejected == []
    assert f"Résultats pour «{NBSP}pékin bamako{NBSP}»" in found
    assert "Pékin & Bamako <signent>" in found
    assert f"Aucun article trouvé pour «{NBSP}<script>{NBSP}»" in bot.said(FR, "/search <script>")
    # A refused search says where, in French; to an English reader it echoes the parser's
    # hint, escaped too: '&' is not an operator here.
    refused = bot.said(FR, "/search pékin <signent> &")
    assert bot.botapi.rejected == []
    assert "erreur à la colonne 17" in refused
    bot.register(EN, language="en")
    refused = bot.said(EN, "/search pékin <signent> &")
    assert bot.botapi.rejected == []
    assert "'&' is not an operator here: write AND" in refused


def test_labels_are_in_the_readers_language(bot: Conversation) -> None:
    bot.register(EN, language="en")
    bot.publish("Mali & China <deal>", terms=("china", "<deal>"))
    bot.deliver()
    assert bot.botapi.rejected == []
    assert "terms: china, <deal>" in bot.botapi.texts_to(EN)[-1]


def test_a_digest_of_hostile_stories_is_accepted(bot: Conversation) -> None:
    bot.register(FR, language="fr")
    for param in HOSTILE:
        [hostile] = param.values
        assert isinstance(hostile, Hostile)
        bot.publish(hostile.title, hostile.summary, link=hostile.link, source=hostile.source)
    bot.clock.advance(minutes=5)  # a digest covers [last one, now)
    replies = bot.say(FR, "/digest")
    assert bot.botapi.rejected == []
    assert all(m.photo is None for m in replies)  # a daily digest: the trend as a line
    text = "\n".join(m.plain or "" for m in replies)
    assert f"— {len(HOSTILE)} sujets" in text
    assert "14 derniers jours" in text.splitlines()[-1]
    for param in HOSTILE:
        [hostile] = param.values
        assert isinstance(hostile, Hostile)
        assert shown(hostile.title, 200) in text
    for message in replies:
        assert_safe(message)


def test_also_reported_by_a_hostile_source_is_an_accepted_edit(bot: Conversation) -> None:
    bot.register(FR, language="fr")
    first = bot.publish("Bamako & Pékin <signent>", source="Le Sahel")
    bot.deliver()
    bot.publish("Pékin & Bamako signent", source='<Mali> & "Web"', story_id=first.story_id)
    report = bot.deliver()
    assert (report.sent, report.edited) == (0, 1)
    assert bot.botapi.rejected == []
    [alert] = bot.botapi.messages_to(FR)
    assert len(alert.edits) == 1
    assert f'Aussi rapporté par{NBSP}: <Mali> & "Web"' in (alert.plain or "")
    assert "Bamako & Pékin <signent>" in (alert.plain or "")


# Any text a feed could carry (XML allows no control characters, PostgreSQL no NUL).
FEED_TEXT = st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=400)
LINKS = st.one_of(
    st.none(),
    st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=80),
    st.builds(
        lambda rest: "https://x.example/" + rest,
        st.text(st.characters(exclude_categories=("Cs", "Cc")), max_size=80),
    ),
)


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    title=FEED_TEXT.filter(str.strip), summary=st.text(max_size=3000), link=LINKS, source=FEED_TEXT
)
def test_any_feed_text_is_accepted_and_its_title_shown(
    bot: Conversation, title: str, summary: str, link: str | None, source: str
) -> None:
    if bot.subscriber(FR) is None:
        bot.register(FR, language="fr")
    summary = "".join(c for c in summary if c != "\x00" and not 0xD800 <= ord(c) <= 0xDFFF)
    bot.publish(title, summary, link=link, source=source)
    assert bot.deliver().sent == 1
    assert bot.botapi.rejected == []
    alert = bot.botapi.messages_to(FR)[-1]
    assert_safe(alert)
    assert shown(title, 300) in (alert.plain or "")
