from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.ingest.normalize import canonical_url, detect_language, html_to_text, normalize_entry
from bot.types import RawEntry

NOW = datetime(2026, 2, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://Example.org/a?utm_source=x&utm_medium=rss&id=3#top",
            "https://example.org/a?id=3",
        ),
        ("http://example.org:80/a?fbclid=1", "http://example.org/a"),
        ("https://example.org/a?xtor=RSS-1&p=2", "https://example.org/a?p=2"),
        ("https://example.org", "https://example.org/"),
    ],
    ids=[
        "utm and fragment dropped",
        "default port and fbclid dropped",
        "xtor (French outlets) dropped",
        "empty path is /",
    ],
)
def test_canonical_url(url: str, expected: str) -> None:
    assert canonical_url(url) == expected


def test_html_to_text_drops_scripts_and_decodes_entities() -> None:
    text = html_to_text("<p>Bamako &amp; P&eacute;kin</p><script>alert(1)</script><p>Fin</p>")
    assert text == "Bamako & Pékin\nFin"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Le ministre malien de la Sécurité a reçu l'ambassadeur de Chine à Bamako.", "fr"),
        ("The Prime Minister received the ambassador of the People's Republic of China.", "en"),
        ("北京", "other"),
    ],
)
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_identity_prefers_guid_then_link_then_hash() -> None:
    with_guid = RawEntry("g-1", "https://e.org/a?utm_source=x", "T", "", None)
    with_link = RawEntry(None, "https://e.org/a?utm_source=x", "T", "", None)
    bare = RawEntry(None, None, "Titre", "", NOW)
    assert normalize_entry(with_guid, now=NOW).identity == "guid:g-1"
    assert normalize_entry(with_link, now=NOW).identity == "link:https://e.org/a"
    first = normalize_entry(bare, now=NOW).identity
    later = normalize_entry(bare, now=NOW + timedelta(hours=1)).identity
    assert first.startswith("hash:") and first == later  # stable across polls


def test_dates_missing_or_future_become_now() -> None:
    missing = normalize_entry(RawEntry("a", None, "T", "", None), now=NOW)
    future = normalize_entry(RawEntry("b", None, "T", "", NOW + timedelta(days=3)), now=NOW)
    past = normalize_entry(RawEntry("c", None, "T", "", NOW - timedelta(days=1)), now=NOW)
    assert missing.published == NOW and future.published == NOW
    assert past.published == NOW - timedelta(days=1)


@given(st.text(max_size=300))
def test_html_to_text_output_is_a_fixed_point(markup: str) -> None:
    """Text already extracted survives being escaped and extracted again unchanged."""
    once = html_to_text(markup)
    assert html_to_text(html.escape(once, quote=False)) == once


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        pytest.param(
            "La Chine et le Niger signent un accord pétrolier - Bamako.com",
            '<a href="https://news.google.com/rss/articles/x">La Chine et le Niger signent un '
            'accord pétrolier</a>&nbsp;&nbsp;<font color="#6f6f6f">Bamako.com</font>',
            ("La Chine et le Niger signent un accord pétrolier",) * 2,
            id="a Google News item loses the outlet it names after its title and description",
        ),
        pytest.param(
            "Visit Bamako.com",
            "Visit Bamako.com",
            ("Visit Bamako.com", "Visit"),
            id="a title keeps a final word that is not after a separator",
        ),
    ],
)
def test_an_aggregator_outlet_is_the_source_not_the_subject(
    title: str, summary: str, expected: tuple[str, str]
) -> None:
    raw = RawEntry(
        guid="g", link=None, title=title, summary_html=summary, published=None,
        outlet="Bamako.com",
    )
    item = normalize_entry(raw, now=datetime(2026, 3, 1, tzinfo=UTC))
    assert (item.title, item.summary) == expected
    assert item.outlet == "Bamako.com"
