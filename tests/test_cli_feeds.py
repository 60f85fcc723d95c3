"""`mcwatch feeds check | import | export` through the real CLI, a real SQLite file and
the loopback feed server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.__main__ import main
from bot.cli import app
from bot.ingest.opml import parse_opml
from tests.support.feed_server import FeedServer

FEED = """<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>
<title>Bamako Matin</title><language>fr</language>
<item><guid>m1</guid><title>Kati : des médecins chinois opèrent gratuitement la cataracte</title>
<description>La mission médicale chinoise au Mali a opéré 300 patients à l'hôpital de Kati.
</description><pubDate>Tue, 10 Mar 2026 09:00:00 GMT</pubDate></item>
<item><guid>m2</guid><title>Ségou : la foire aux bestiaux attire les éleveurs</title>
<description>Les éleveurs de la région se sont retrouvés samedi.</description></item>
</channel></rss>""".encode()

OPML = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0"><head><title>Sahel desk</title></head><body>
  <outline text="Malian press">
    <outline type="rss" text="Bamako Matin" xmlUrl="https://bamako-matin.example/rss"
             language="fr"/>
    <outline type="rss" text="Sahel Wire" xmlUrl="https://sahel-wire.example/atom"/>
  </outline>
  <outline type="rss" text="Bamako Matin again" xmlUrl="https://bamako-matin.example/rss"/>
  <outline type="rss" text="Not a web feed" xmlUrl="ftp://old.example/feed"/>
</body></opml>
"""

BROKEN_URLS = """<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0"><head><title>Old export</title></head><body>
  <outline type="rss" text="Sahel Wire" xmlUrl="https://sahel-wire.example/atom"/>
  <outline type="rss" text="Half a URL" xmlUrl="http://"/>
  <outline type="rss" text="Typo" xmlUrl="https://maliweb .net/feed/"/>
  <outline type="rss" text="Bad port" xmlUrl="http://localhost:99999/x"/>
  <outline type="rss" xmlUrl="feed.xml"/>
</body></opml>
"""


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def feed_urls() -> list[str]:
    code, output = invoke("feeds", "list", "--json")
    assert code == 0, output
    return [row["url"] for row in json.loads(output)]


def test_check_shows_what_would_match_and_stores_nothing(
    env: Path, feed_server: FeedServer
) -> None:
    feed_server.serve("/matin.rss", FEED)
    before = feed_urls()
    code, output = invoke("feeds", "check", feed_server.url("/matin.rss"), "--json")
    assert code == 0, output
    report = json.loads(output)
    assert (report["entries"], report["error"]) == (2, None)
    [matched] = report["matched"]
    assert matched["topics"] == ["health"]
    assert "médecins chinois" in matched["terms"]
    assert feed_urls() == before  # not added
    code, output = invoke("items", "list", "--json")
    assert (code, json.loads(output)) == (0, [])  # nothing stored


def test_check_of_a_broken_feed_says_why_and_fails(env: Path, feed_server: FeedServer) -> None:
    feed_server.serve("/page", b"<!DOCTYPE html><html></html>", content_type="text/html")
    code, output = invoke("feeds", "check", feed_server.url("/page"))
    assert code == 1
    assert "an HTML page, not a feed" in output


def test_opml_import_adds_each_feed_once_and_export_gives_them_back(env: Path) -> None:
    (env / "desk.opml").write_text(OPML, encoding="utf-8")
    before = feed_urls()
    code, output = invoke("feeds", "import", "desk.opml")
    assert code == 0, output
    # the duplicate outline counts once
    assert "2 feeds added, 1 skipped (1 invalid URL), from 3 in desk.opml" in output
    assert feed_urls() == [
        *before,
        "https://bamako-matin.example/rss",
        "https://sahel-wire.example/atom",
    ]
    code, output = invoke("feeds", "import", "desk.opml")  # again: nothing new
    assert "0 feeds added, 3 skipped (2 already watched, 1 invalid URL), from 3" in output
    assert len(feed_urls()) == len(before) + 2

    code, output = invoke("feeds", "export", "out.opml")
    assert code == 0, output
    exported = parse_opml((env / "out.opml").read_bytes())
    assert [f.url for f in exported] == feed_urls()
    assert {f.url: f.language for f in exported}["https://bamako-matin.example/rss"] == "fr"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"<html><body>not opml</body></html>", id="an HTML page"),
        pytest.param(b"<opml><body><outline", id="truncated XML"),
    ],
)
def test_a_bad_opml_file_is_refused_with_a_reason(env: Path, content: bytes) -> None:
    (env / "bad.opml").write_bytes(content)
    before = feed_urls()
    code, output = invoke("feeds", "import", "bad.opml")
    assert code == 1, output
    assert output.startswith("mcwatch: error: ") and len(output.strip().splitlines()) == 1
    assert feed_urls() == before


def test_opml_import_says_which_outlines_it_skipped_and_why(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (env / "old.opml").write_text(BROKEN_URLS, encoding="utf-8")
    before = feed_urls()
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["feeds", "import", "old.opml"])
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert err.splitlines() == [
        "mcwatch: skipped 'Half a URL' ('http://'): the URL has no host",
        "mcwatch: skipped 'Typo' ('https://maliweb .net/feed/'): "
        "a URL cannot contain spaces or control characters",
        "mcwatch: skipped 'Bad port' ('http://localhost:99999/x'): "
        "the port must be a number from 1 to 65535",
        "mcwatch: skipped 'feed.xml': not an http(s) URL",
    ]
    assert out == "1 feed added, 4 skipped (4 invalid URLs), from 5 in old.opml\n"
    assert feed_urls() == [*before, "https://sahel-wire.example/atom"]


def test_a_disabled_feed_stays_disabled_through_export_and_import(
    env: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    (env / "desk.opml").write_text(OPML, encoding="utf-8")
    assert invoke("feeds", "import", "desk.opml")[0] == 0
    rows = json.loads(invoke("feeds", "list", "--json")[1])
    [wire] = [row["id"] for row in rows if row["url"] == "https://sahel-wire.example/atom"]
    assert invoke("feeds", "disable", str(wire))[0] == 0
    code, exported = invoke("feeds", "export")
    assert code == 0
    assert 'xmlUrl="https://sahel-wire.example/atom" mcwatch:enabled="false"' in exported
    expected = {
        row["url"]: row["enabled"] for row in json.loads(invoke("feeds", "list", "--json")[1])
    }
    assert expected["https://sahel-wire.example/atom"] is False

    elsewhere = tmp_path_factory.mktemp("another-machine")  # a fresh database
    (elsewhere / "watch.opml").write_text(exported, encoding="utf-8")
    monkeypatch.chdir(elsewhere)
    code, output = invoke("feeds", "import", "watch.opml")
    assert code == 0, output
    assert "(1 disabled)" in output
    rows = json.loads(invoke("feeds", "list", "--json")[1])
    assert {row["url"]: row["enabled"] for row in rows} == expected


def test_list_and_health_say_why_a_feed_fails_in_english(env: Path) -> None:
    """``last_error`` holds a catalogue key and its arguments (bot.text.failure); the CLI
    and SPEC's ``feeds list --json`` show the English sentence, and a reason stored
    before, already a sentence, as it is."""
    from datetime import UTC, datetime

    from bot.text import failure
    from store import feeds
    from store.db import make_engine, transaction
    from store.feeds import NewFeed

    feed_urls()  # creates ./data/mcwatch.db, with the seeded feeds
    engine = make_engine("sqlite:///data/mcwatch.db")
    now = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)
    reasons = {
        "https://down.example/rss": failure("fetch_too_many_redirects", limit=5),
        "https://old.example/rss": "HTTP 410 Gone",  # stored by an earlier mcwatch
    }
    with transaction(engine) as session:
        for url, reason in reasons.items():
            feed = feeds.add_feed(session, NewFeed(url=url, name=url[8:12]), now)
            assert feed.id is not None
            feeds.record_fetch_failure(session, feed.id, now=now, error=reason, next_poll_at=now)
    engine.dispose()

    code, output = invoke("feeds", "list", "--json")
    assert code == 0, output
    shown = {row["url"]: row["last_error"] for row in json.loads(output) if row["url"] in reasons}
    assert shown == {
        "https://down.example/rss": "more than 5 redirects",
        "https://old.example/rss": "HTTP 410 Gone",
    }
    for command in (("feeds", "list"), ("feeds", "health")):
        code, output = invoke(*command)
        assert code == 0, output
        assert "more than 5 redirects" in output and "HTTP 410 Gone" in output
        assert '"key"' not in output
