"""Who is speaking (issue 15, deliverable 2): a feed's country and kind, from the seed,
the CLI and OPML to the alert's first line, a story's mix, Google News credits and the
filters of `items list` and `/latest`.

The end-to-end tests run the real CLI, `mcwatch run --once`'s own steps over loopback
feeds and the Bot API stand-in, on SQLite and PostgreSQL (when named); the feeds are
written for these tests.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from bot import provenance
from bot.cli import app
from bot.cli.runtime import Runtime
from bot.clock import FixedClock
from bot.deliver.digest import DigestSection, render_digest
from bot.deliver.render import TELEGRAM_LIMIT, html_to_console, render_alert, utf16_len
from bot.ingest.normalize import names_outlet_in_title, normalize_entry, title_outlet
from bot.ingest.opml import OpmlFeed, parse_opml, render_opml
from bot.provenance import (
    COUNTRIES,
    KINDS,
    flag,
    mix,
    mix_line,
    outlet_label,
    parse_country,
    parse_filter,
    parse_kind,
)
from bot.seed_files import load_seed_files, parse_feeds_document
from bot.settings import load_settings
from bot.types import Alert, DigestStory, Outlet, RawEntry
from tests.support.botapi import BotApi
from tests.support.feed_server import FeedServer
from tests.test_e2e_digest import KIDNAP, KIDNAP_COPY, LOAN, alerts, configured, rss, run_once

__all__ = ["configured"]  # the fixture, shared with the digest end-to-end test

NBSP = "\u00a0"
WHEN = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
SEEDS = Path(__file__).resolve().parent.parent / "seeds"


# --- the pure core -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        pytest.param("ML", "ML", id="a code as ISO writes it"),
        pytest.param(" cn ", "CN", id="lower case and spaces are forgiven"),
        pytest.param("fr", "FR", id="France"),
    ],
)
def test_a_country_code_is_stored_upper_case(typed: str, stored: str) -> None:
    assert parse_country(typed) == stored


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        pytest.param("ZZ", "not an ISO 3166-1 alpha-2", id="an unassigned code"),
        pytest.param("MLI", "not an ISO 3166-1 alpha-2", id="an alpha-3 code"),
        pytest.param("UK", "use GB", id="the usual mistake for the United Kingdom"),
        pytest.param("", "not an ISO", id="nothing"),
        pytest.param("🇲🇱", "not an ISO", id="a flag is not a code"),
    ],
)
def test_a_bad_country_code_is_one_line_saying_why(typed: str, said: str) -> None:
    with pytest.raises(ValueError, match=said) as caught:
        parse_country(typed)
    assert "\n" not in str(caught.value)


def test_the_country_table_is_iso_3166_1_and_kinds_are_the_issues() -> None:
    assert len(COUNTRIES) == 249 and {"ML", "CN", "FR", "SN", "CG", "SS", "CW"} <= COUNTRIES
    assert all(re.fullmatch("[A-Z]{2}", code) for code in COUNTRIES)
    assert KINDS == (
        "malian_public",
        "malian_private",
        "chinese_state",
        "agency",
        "panafrican",
        "search",
        "blog",
    )
    assert parse_kind("Chinese-State") == "chinese_state"
    with pytest.raises(ValueError) as caught:
        parse_kind("state")
    assert all(kind in str(caught.value) for kind in KINDS)  # the error lists the kinds


def test_a_flag_is_two_regional_indicators() -> None:
    assert flag("ML") == "\U0001f1f2\U0001f1f1" == "🇲🇱"
    assert flag("cn") == "🇨🇳"
    assert flag(None) == flag("") == flag("ZZ") == ""


@pytest.mark.parametrize(
    ("country", "kind", "language", "label"),
    [
        pytest.param("CN", "chinese_state", "en", "🇨🇳 state media", id="flag and kind"),
        pytest.param("CN", "chinese_state", "fr", "🇨🇳 média d'État", id="in French"),
        pytest.param("ML", None, "en", "🇲🇱", id="no kind: the flag alone"),
        pytest.param(None, "agency", "fr", "agence de presse", id="no country: no flag"),
        pytest.param(None, None, "en", "", id="nothing known: nothing said"),
    ],
)
def test_an_outlet_label(country: str | None, kind: str | None, language: str, label: str) -> None:
    assert outlet_label(country, kind, language) == label


def test_every_kind_has_a_name_in_both_languages() -> None:
    for language in ("fr", "en"):
        labels = [provenance.kind_label(kind, language) for kind in KINDS]
        assert all(labels) and len(set(labels)) == len(KINDS)
        assert not any(label.startswith("kind_") for label in labels)


def test_a_story_mix_counts_outlets_per_country_most_first() -> None:
    outlets = [Outlet("A", "CN"), Outlet("B", "ML"), Outlet("C", "ML"), Outlet("D")]
    assert mix(outlets) == [("ML", 2), ("CN", 1), (None, 1)]
    assert mix_line(outlets[:3], "en") == "3 sources: 🇲🇱 2 · 🇨🇳 1"
    assert mix_line(outlets, "fr") == f"4 sources{NBSP}: 🇲🇱 2 · 🇨🇳 1 · autres 1"
    assert mix_line(outlets[:1], "en") == ""  # one outlet is no mix
    assert mix_line([Outlet("X"), Outlet("Y")], "en") == ""  # nothing known, nothing said


def test_a_mix_names_at_most_eight_countries() -> None:
    codes = sorted(COUNTRIES)[:20]
    groups = mix([Outlet(code, code) for code in codes])
    assert len(groups) == provenance.MIX_MAX_COUNTRIES + 1 and groups[-1] == (None, 12)


def alert(
    source: str = "Xinhua",
    country: str | None = "CN",
    kind: str | None = "chinese_state",
    language: str = "en",
    outlets: tuple[Outlet, ...] = (),
    also: tuple[str, ...] = (),
    title: str = "Mali and China sign a security accord",
) -> Alert:
    return Alert(
        delivery_id=1,
        subscriber_id=1,
        chat_id=1,
        language=language,
        title=title,
        link="https://example.org/a",
        source=source,
        published=WHEN,
        summary="Bamako and Beijing signed an accord.",
        topics=("security",),
        terms=("accord",),
        also_reported_by=also,
        country=country,
        kind=kind,
        outlets=outlets,
    )


@pytest.mark.parametrize(
    ("made", "first_line"),
    [
        pytest.param(alert(), "📰 Xinhua · 🇨🇳 state media · 3 Dec 2026", id="English"),
        pytest.param(
            alert(language="fr"), "📰 Xinhua · 🇨🇳 média d'État · 3 déc. 2026", id="French"
        ),
        pytest.param(alert(country=None), "📰 Xinhua · state media · 3 Dec 2026", id="no flag"),
        pytest.param(alert(kind=None), "📰 Xinhua · 🇨🇳 · 3 Dec 2026", id="no kind"),
        pytest.param(alert(country=None, kind=None), "📰 Xinhua · 3 Dec 2026", id="nothing known"),
    ],
)
def test_the_alert_names_the_outlet_with_flag_and_kind(made: Alert, first_line: str) -> None:
    assert html_to_console(render_alert(made)).splitlines()[0] == first_line


def test_the_alert_of_a_story_shows_its_mix_of_outlets() -> None:
    outlets = (Outlet("Xinhua", "CN", "chinese_state"), Outlet("Studio Tamani", "ML"))
    shown = html_to_console(render_alert(alert(outlets=outlets, also=("Studio Tamani",))))
    assert "2 sources: 🇨🇳 1 · 🇲🇱 1" in shown.splitlines()
    assert "Also reported by: Studio Tamani" in shown


OUR_TAGS = re.compile(r"</?(b|i|a)( href=\"[^\"<>]*\")?>")


def only_our_markup(message: str) -> bool:
    rest = OUR_TAGS.sub("", message)
    return (
        "<" not in rest and ">" not in rest and not re.search(r"&(?!(lt|gt|amp|quot|#x27);)", rest)
    )


@settings(max_examples=60, deadline=None)
@given(
    source=st.text(min_size=1, max_size=3000),
    names=st.lists(st.text(min_size=1, max_size=500), max_size=40),
    codes=st.lists(st.sampled_from([*sorted(COUNTRIES), "ZZ", ""]), max_size=40),
    kind=st.sampled_from([*KINDS, None]),
)
def test_the_outlet_line_and_mix_are_escaped_and_fit_any_names(
    source: str, names: list[str], codes: list[str], kind: str | None
) -> None:
    outlets = tuple(Outlet(n, c or None) for n, c in zip(names, codes, strict=False))
    made = alert(source=source, kind=kind, outlets=outlets, also=tuple(names))
    for plain in (False, True):
        text = render_alert(made, plain=plain)
        assert utf16_len(text) <= TELEGRAM_LIMIT
    assert only_our_markup(render_alert(made))


def test_a_hostile_outlet_name_is_escaped() -> None:
    text = render_alert(alert(source="<b>Xinhua</b> & co", outlets=(Outlet("<i>x", "CN"),)))
    assert "&lt;b&gt;Xinhua&lt;/b&gt; &amp; co" in text and only_our_markup(text)


def test_a_digest_line_shows_the_story_mix() -> None:
    story = DigestStory(
        story_id=1,
        title="Accord de sécurité",
        link=None,
        source="Xinhua",
        sources=3,
        topic="security",
        published=WHEN,
        outlets=(Outlet("Xinhua", "CN"), Outlet("Tamani", "ML"), Outlet("Maliweb", "ML")),
    )
    [message] = render_digest([DigestSection("security", (story,))], language="fr", day=WHEN.date())
    assert f"Xinhua, 3 sources{NBSP}: 🇲🇱 2 · 🇨🇳 1" in html_to_console(message)
    unread = DigestStory(1, "Accord", None, "Xinhua", 3, "security", WHEN)  # outlets not read
    [message] = render_digest(
        [DigestSection("security", (unread,))], language="en", day=WHEN.date()
    )
    assert "Xinhua, 3 sources" in html_to_console(message)


@pytest.mark.parametrize(
    ("words", "country", "kind", "rest"),
    [
        pytest.param([], None, None, (), id="no filter"),
        pytest.param(["10", "country:cn"], "CN", None, ("10",), id="a number and a country"),
        pytest.param(["kind:malian_private"], None, "malian_private", (), id="a kind"),
        pytest.param(["pays:ML", "type:agency", "3"], "ML", "agency", ("3",), id="in French"),
    ],
)
def test_latest_filters(
    words: list[str], country: str | None, kind: str | None, rest: tuple[str, ...]
) -> None:
    found = parse_filter(words)
    assert (found.country, found.kind, found.rest) == (country, kind, rest)


@pytest.mark.parametrize("words", [["country:ZZ"], ["kind:press"], ["country:ML", "pays:CN"]])
def test_bad_latest_filters_are_refused(words: list[str]) -> None:
    with pytest.raises(ValueError):
        parse_filter(words)


# --- Google News: credited to the outlet it names ------------------------------------


def entry(title: str, outlet: str | None = None) -> RawEntry:
    return RawEntry(
        guid="g",
        link="https://news.google.com/rss/articles/x",
        title=title,
        summary_html=f"{title}&nbsp;&nbsp;{outlet or ''}",
        published=WHEN,
        outlet=outlet,
    )


@pytest.mark.parametrize(
    ("raw", "title", "outlet"),
    [
        pytest.param(
            entry("Mali-Chine : un accord signé - Journal du Mali", "Journal du Mali"),
            "Mali-Chine : un accord signé",
            "Journal du Mali",
            id="<source> names the outlet",
        ),
        pytest.param(
            entry("Mali - Chine : la route Kati-Kolokani - Studio Tamani"),
            "Mali - Chine : la route Kati-Kolokani",
            "Studio Tamani",
            id="no <source>: the last ' - ' of the title",
        ),
        pytest.param(
            entry("Bamako et Pékin signent un accord"),
            "Bamako et Pékin signent un accord",
            None,
            id="no outlet named: none credited",
        ),
    ],
)
def test_a_google_news_item_is_credited_to_the_outlet_it_names(
    raw: RawEntry, title: str, outlet: str | None
) -> None:
    item = normalize_entry(raw, now=WHEN, outlet_in_title=True)
    assert (item.title, item.outlet) == (title, outlet)


def test_only_google_news_titles_end_with_their_outlet() -> None:
    assert names_outlet_in_title("https://news.google.com/rss/search?q=Mali+Chine&hl=fr")
    assert not names_outlet_in_title("https://www.maliweb.net/feed/")
    plain = normalize_entry(entry("Le Mali - la Chine - Maliweb"), now=WHEN)
    assert plain.title == "Le Mali - la Chine - Maliweb" and plain.outlet is None
    assert title_outlet("Titre - " + "x" * 200) is None  # a long tail is part of the title


GOOGLE_NEWS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>"Mali Chine" - Google Actualités</title>
<link>https://news.google.com/search?q=Mali+Chine</link><language>fr</language>
{items}</channel></rss>"""


def google_item(
    guid: str, title: str, summary: str, published: datetime, outlet: str | None
) -> str:
    source = f'<source url="https://outlet.example">{outlet}</source>' if outlet else ""
    return (
        f"<item><title>{title}</title><link>https://news.google.com/rss/articles/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid>'
        f"<pubDate>{format_datetime(published, usegmt=True)}</pubDate>"
        f"<description>{summary}</description>{source}</item>"
    )


def test_prepare_credits_google_news_items_from_its_own_feed_bytes() -> None:
    from bot.ingest.prepare import prepare
    from bot.match import Lexicon, compile_rules
    from bot.types import TopicRule

    body = GOOGLE_NEWS.format(
        items=google_item("a", "Accord Mali-Chine - Journal du Mali", "Texte", WHEN, None)
        + google_item("b", "Route de Kati - Studio Tamani", "Texte", WHEN, "Studio Tamani")
    ).encode()
    matcher = compile_rules([TopicRule("any", "texte")], Lexicon.from_mapping({}))
    url = "https://news.google.com/rss/search?q=Mali+Chine&hl=fr&gl=FR&ceid=FR:fr"
    prepared = prepare(body, url, "fr", WHEN, matcher)
    assert [(i.title, i.outlet) for i in prepared.items] == [
        ("Accord Mali-Chine", "Journal du Mali"),
        ("Route de Kati", "Studio Tamani"),
    ]


# --- OPML ------------------------------------------------------------------------------


def test_opml_keeps_country_and_kind_as_mcwatch_attributes() -> None:
    feeds = [
        OpmlFeed("https://a.example/rss", "Xinhua", "fr", True, "CN", "chinese_state"),
        OpmlFeed("https://b.example/rss", "Blog", None, False, None, "blog"),
        OpmlFeed("https://c.example/rss", "Unknown"),
    ]
    document = render_opml(feeds)
    assert 'mcwatch:country="CN" mcwatch:kind="chinese_state"' in document
    assert parse_opml(document.encode()) == feeds


def test_opml_import_leaves_out_a_bad_country_or_kind_and_says_why() -> None:
    document = f"""<?xml version="1.0"?><opml version="2.0" xmlns:mcwatch="{
        "https://github.com/mcwatch/mcwatch/opml"
    }"><body>
      <outline type="rss" text="A" xmlUrl="https://a.example/rss" mcwatch:country="ml"
               mcwatch:kind="state"/>
      <outline type="rss" text="B" xmlUrl="https://b.example/rss" mcwatch:country="Mali"
               mcwatch:kind="Malian_Private"/>
    </body></opml>"""
    a, b = parse_opml(document.encode())
    assert (a.country, a.kind, b.country, b.kind) == ("ML", None, None, "malian_private")
    assert len(a.problems) == 1 and "mcwatch:kind" in a.problems[0] and "blog" in a.problems[0]
    assert len(b.problems) == 1 and "mcwatch:country" in b.problems[0]


# --- the seed --------------------------------------------------------------------------


def test_every_seeded_feed_says_who_is_speaking() -> None:
    document = yaml.safe_load((SEEDS / "feeds.yaml").read_text(encoding="utf-8"))
    for entry_ in document["feeds"]:
        # Both decided for each feed: country null only where no single country speaks.
        assert "country" in entry_ and entry_.get("kind") in KINDS, entry_["name"]
        if entry_["kind"] != "search":
            assert entry_["country"] in COUNTRIES or entry_["name"].startswith("AllAfrica")
    _, _, seeded = load_seed_files(SEEDS)
    by_name = {feed.name: feed for feed in seeded}
    assert (by_name["Journal du Mali"].country, by_name["Journal du Mali"].kind) == (
        "ML",
        "malian_private",
    )
    assert by_name["CGTN — World"].kind == "chinese_state"
    assert all(f.country is None for f in seeded if f.kind == "search")


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        pytest.param({"country": "ZZ"}, "feed #1: 'ZZ' is not an ISO", id="a bad code"),
        pytest.param({"kind": "press"}, "feed #1: 'press' is not a kind", id="a bad kind"),
        pytest.param({"country": False}, "quote the country code", id="YAML's NO"),
    ],
)
def test_a_bad_provenance_in_the_seed_names_the_feed(extra: dict[str, object], said: str) -> None:
    from bot.errors import SeedError

    with pytest.raises(SeedError, match=said):
        parse_feeds_document({"feeds": [{"url": "https://a.example/rss", **extra}]}, "feeds.yaml")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def listed_feeds() -> dict[str, dict[str, object]]:
    code, output = invoke("feeds", "list", "--json")
    assert code == 0, output
    return {row["name"]: row for row in json.loads(output)}


def test_db_seed_fills_provenance_in_and_keeps_an_admin_edit(env: Path) -> None:
    before = listed_feeds()  # the first start seeds the feeds, with who is speaking
    assert before["Journal du Mali"]["country"] == "ML"
    assert before["Xinhua (English) — World"]["kind"] == "chinese_state"
    xinhua, maliweb = before["Xinhua (English) — World"]["id"], before["Maliweb"]["id"]
    assert invoke("feeds", "edit", str(xinhua), "--kind", "agency")[0] == 0
    # A database seeded before provenance existed: the row, and the seed's record of it,
    # as the old seed wrote them.
    from bot.cli.runtime import Runtime as CliRuntime
    from store.db import transaction
    from store.feeds import NewFeed
    from store.models import Feed, SeedRecord
    from store.seed import feed_digest

    runtime = CliRuntime.load()
    with transaction(runtime.engine) as session:
        row = session.get(Feed, maliweb)
        assert row is not None
        row.country = row.kind = None
        record = session.get(SeedRecord, ("feed", row.url))
        assert record is not None
        record.digest = feed_digest(NewFeed(row.url, row.name, row.language, row.interval))
        session.add_all([row, record])
    code, output = invoke("db", "seed")
    assert code == 0, output
    after = listed_feeds()
    assert after["Xinhua (English) — World"]["kind"] == "agency"  # the admin's edit kept
    assert (after["Maliweb"]["country"], after["Maliweb"]["kind"]) == ("ML", "malian_private")
    assert "edited by you" in output and "feed https://english.news.cn" in output


# --- the CLI ---------------------------------------------------------------------------

PLAIN_FEED = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Bamako Matin</title>'
    b"<item><guid>1</guid><title>Titre</title></item></channel></rss>"
)


def test_feeds_add_edit_and_list_say_who_is_speaking(env: Path, feed_server: FeedServer) -> None:
    feed_server.serve("/matin.rss", PLAIN_FEED)
    code, output = invoke(
        "feeds", "add", feed_server.url("/matin.rss"), "--country", "ml", "--kind", "malian_private"
    )
    assert code == 0, output
    assert "Bamako Matin (ML, malian_private)" in output
    row = listed_feeds()["Bamako Matin"]
    assert (row["country"], row["kind"]) == ("ML", "malian_private")
    feed_id = str(row["id"])

    code, output = invoke("feeds", "edit", feed_id, "--country", "SN", "--kind", "agency")
    assert (code, "country SN, kind agency" in output) == (0, True), output
    code, output = invoke("feeds", "list")
    line = next(line for line in output.splitlines() if "Bamako Matin" in line)
    assert " SN " in line and " agency " in line
    code, output = invoke("feeds", "edit", feed_id, "--country", "none")
    assert code == 0 and listed_feeds()["Bamako Matin"]["country"] is None

    for args, said in [
        (("--country", "XX"), "'XX' is not an ISO 3166-1 alpha-2 country code"),
        (("--kind", "press"), "kinds: malian_public, malian_private, chinese_state, agency"),
    ]:
        code, output = invoke("feeds", "edit", feed_id, *args)
        assert code == 2 and said in " ".join(output.split()), output
    code, output = invoke("feeds", "edit", feed_id)
    assert code == 2 and "nothing to change" in output
    code, output = invoke("feeds", "edit", "9999", "--kind", "blog")
    assert code == 1 and "no feed with id 9999" in output
    # Refused before anything is fetched or stored.
    code, output = invoke("feeds", "add", feed_server.url("/other.rss"), "--kind", "news")
    assert code == 2 and "is not a kind" in " ".join(output.split())
    assert set(listed_feeds()) >= {"Bamako Matin"}


def test_opml_round_trip_through_the_cli(
    env: Path, tmp_path: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/matin.rss", PLAIN_FEED)
    assert invoke("feeds", "add", feed_server.url("/matin.rss"), "--country", "ML")[0] == 0
    exported = tmp_path / "out.opml"
    assert invoke("feeds", "export", str(exported))[0] == 0
    assert 'mcwatch:country="ML"' in exported.read_text(encoding="utf-8")
    bad = tmp_path / "bad.opml"
    bad.write_text(
        '<?xml version="1.0"?><opml version="2.0" '
        'xmlns:mcwatch="https://github.com/mcwatch/mcwatch/opml"><body>'
        '<outline type="rss" text="Blog du Sahel" xmlUrl="https://blog.example/rss" '
        'mcwatch:country="Mali" mcwatch:kind="blog"/></body></opml>',
        encoding="utf-8",
    )
    code, output = invoke("feeds", "import", str(bad))
    assert code == 0 and "1 feed added" in output
    assert "Blog du Sahel: skipped mcwatch:country: 'Mali' is not an ISO" in output
    row = listed_feeds()["Blog du Sahel"]
    assert (row["country"], row["kind"]) == (None, "blog")


# --- end to end: loopback feeds → poll → alerts, lists and filters ------------------


def gnews(entries: list[tuple[str, str, str, datetime, str]]) -> bytes:
    return GOOGLE_NEWS.format(
        items="".join(google_item(g, f"{t} - {o}", s, p, o) for g, t, s, p, o in entries)
    ).encode()


XINHUA, TAMANI, GOOGLE = "Xinhua (français) — Afrique", "Studio Tamani", "Google News — Mali Chine"
FR_CHAT, EN_CHAT = 8101, 8102


def add(url: str, name: str, country: str | None, kind: str) -> None:
    args = ["feeds", "add", url, "--name", name, "--kind", kind]
    code, output = invoke(*args, *(["--country", country] if country else []))
    assert code == 0, output


def test_alerts_name_the_outlet_and_the_story_mix_end_to_end(
    configured: str, botapi: BotApi, feed_server: FeedServer
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    feed_server.serve(
        "/xinhua.rss", rss(XINHUA, "xinhua.example", [("x-1", KIDNAP, now - timedelta(hours=3))])
    )
    # A Google News search: its item is Studio Tamani's, which we also watch.
    feed_server.serve(
        "/gnews.rss",
        gnews([("g-1", LOAN[0], LOAN[1], now - timedelta(hours=2), TAMANI)]),
    )
    add(feed_server.url("/xinhua.rss"), XINHUA, "CN", "chinese_state")
    add(feed_server.url("/gnews.rss"), GOOGLE, None, "search")
    feed_server.serve("/tamani.rss", rss(TAMANI, "tamani.example", []))
    add(feed_server.url("/tamani.rss"), TAMANI, "ML", "malian_private")
    botapi.push_message(FR_CHAT, "/start", language_code="fr")
    botapi.push_message(EN_CHAT, "/start", language_code="en")
    clock = FixedClock(now + timedelta(minutes=1))  # after `feeds add` made them due
    runtime = Runtime(load_settings(), clock)
    run_once(runtime)

    fr = {m.plain.splitlines()[0]: m for m in alerts(botapi, FR_CHAT) if m.plain}
    en = [m.plain.splitlines()[0] for m in alerts(botapi, EN_CHAT) if m.plain]
    day_fr = f"{now.day} "  # the date follows; its month is the locale's
    assert any(line.startswith(f"📰 {XINHUA} · 🇨🇳 média d'État · {day_fr}") for line in fr), fr
    assert any(line.startswith(f"📰 {XINHUA} · 🇨🇳 state media · ") for line in en), en
    # Google News's item: credited to Studio Tamani, its title without " - Studio Tamani".
    loan = next(m for line, m in fr.items() if line.startswith(f"📰 {TAMANI} · 🇲🇱 presse privée"))
    assert LOAN[0] in (loan.plain or "") and f"{LOAN[0]} - {TAMANI}" not in (loan.plain or "")

    # Studio Tamani reports the kidnapping too: the alert gains the story's mix.
    feed_server.serve(
        "/tamani.rss",
        rss(TAMANI, "tamani.example", [("t-1", KIDNAP_COPY, now - timedelta(hours=1))]),
    )
    clock.advance(hours=5)  # every feed due again (the adaptive interval is at most 4 h)
    run_once(runtime)
    kidnap = next(m for m in alerts(botapi, FR_CHAT) if KIDNAP[0] in (m.plain or ""))
    assert kidnap.edits, "a later source edits the alert"
    assert f"2 sources{NBSP}: 🇨🇳 1 · 🇲🇱 1" in (kidnap.plain or "").splitlines()
    assert (kidnap.plain or "").splitlines()[0].startswith(f"📰 {XINHUA} · 🇨🇳 média d'État")

    # Filters: the CLI's items list and the bot's /latest.
    def titles(*args: str) -> list[str]:
        code, output = invoke("items", "list", "--json", *args)
        assert code == 0, output
        return sorted(row["title"] for row in json.loads(output))

    assert titles("--country", "cn") == [KIDNAP[0]]
    assert titles("--kind", "malian_private") == sorted([LOAN[0], KIDNAP_COPY[0]])
    assert titles("--country", "ML", "--kind", "chinese_state") == []
    code, output = invoke("items", "list", "--json", "--since", "7d")
    rows = {row["title"]: row for row in json.loads(output)}
    assert (rows[LOAN[0]]["country"], rows[LOAN[0]]["kind"], rows[LOAN[0]]["source"]) == (
        "ML",
        "malian_private",
        TAMANI,
    )
    code, output = invoke("items", "list", "--country", "ZZ")
    assert code == 2 and "not an ISO 3166-1 alpha-2" in " ".join(output.split())

    before = len(botapi.messages_to(EN_CHAT))
    botapi.push_message(EN_CHAT, "/latest 5 country:CN", language_code="en")
    botapi.push_message(EN_CHAT, "/latest kind:malian_private", language_code="en")
    botapi.push_message(EN_CHAT, "/latest kind:press", language_code="en")
    run_once(runtime)
    china, malian, bad = [m.plain or "" for m in botapi.messages_to(EN_CHAT)[before:]]
    assert KIDNAP[0] in china and LOAN[0] not in china and f"{XINHUA} 🇨🇳," in china
    assert LOAN[0] in malian and KIDNAP_COPY[0] in malian and KIDNAP[0] not in malian
    assert "country:CN" in bad and "malian_private" in bad  # the usage lists the kinds

    before = len(botapi.messages_to(FR_CHAT))
    botapi.push_message(FR_CHAT, "/latest pays:ml", language_code="fr")
    botapi.push_message(FR_CHAT, "/latest type:presse", language_code="fr")
    run_once(runtime)
    malian, bad = [m.plain or "" for m in botapi.messages_to(FR_CHAT)[before:]]
    assert f"{TAMANI} 🇲🇱," in malian and KIDNAP[0] not in malian
    assert "pays:CN" in bad and f"genres{NBSP}: malian_public" in bad

    # The digest line of the kidnapping shows its mix too (stories_between reads outlets).
    before = len(botapi.messages_to(FR_CHAT))
    botapi.push_message(FR_CHAT, "/digest", language_code="fr")
    run_once(runtime)
    digest = "\n".join(m.plain or "" for m in botapi.messages_to(FR_CHAT)[before:])
    line = next(row for row in digest.splitlines() if KIDNAP[0] in row)
    assert f"2 sources{NBSP}: 🇨🇳 1 · 🇲🇱 1" in line, digest
