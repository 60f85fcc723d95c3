"""`mcwatch feeds …`: the watch list."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import emit_json, fail, table
from bot.cli.runtime import Runtime

if TYPE_CHECKING:
    from store.models import Feed

app = typer.Typer(
    help="The watch list: list, add, remove, enable, disable, check, health, "
    "import and export (OPML).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List watched feeds with their health."""
    from store import feeds as store_feeds
    from store.db import transaction
    from store.schemas import feed_json

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = store_feeds.list_feeds(session)
    if as_json:
        emit_json([feed_json(feed) for feed in rows])
        return
    table(
        ["id", "name", "lang", "enabled", "last ok", "failures", "last error", "url"],
        [
            [f.id, f.name, f.language, f.enabled, f.last_ok, f.failures, f.last_error, f.url]
            for f in rows
        ],
    )


def _check_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise typer.BadParameter(f"not an http(s) URL: {url!r}", param_hint="URL")
    return url


@app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
    name: Annotated[str, typer.Option("--name", help="Display name (source of alerts).")] = "",
    interval: Annotated[
        int | None, typer.Option("--interval", min=60, help="Seconds between polls.")
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language of the feed: fr or en.")
    ] = None,
) -> None:
    """Watch a new feed (polled at the next tick)."""
    from store import feeds as store_feeds
    from store.db import transaction
    from store.feeds import NewFeed

    _check_url(url)
    if lang is not None and lang not in ("fr", "en"):
        raise typer.BadParameter("must be fr or en", param_hint="--lang")
    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        feed = store_feeds.add_feed(
            session,
            NewFeed(url=url, name=name, language=lang, interval=interval),
            runtime.clock.now(),
        )
        typer.echo(f"added feed {feed.id}: {feed.name}")


@app.command("remove")
def remove(feed_id: Annotated[int, typer.Argument(metavar="ID", help="Feed id.")]) -> None:
    """Stop watching a feed (its stored items are kept)."""
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        feed = store_feeds.remove_feed(session, feed_id)
    typer.echo(f"removed feed {feed_id}: {feed.name}")


@app.command("enable")
def enable(feed_id: Annotated[int, typer.Argument(metavar="ID", help="Feed id.")]) -> None:
    """Resume polling a feed (due at once)."""
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        store_feeds.set_feed_enabled(session, feed_id, True, runtime.clock.now())
    typer.echo(f"enabled feed {feed_id}")


@app.command("disable")
def disable(feed_id: Annotated[int, typer.Argument(metavar="ID", help="Feed id.")]) -> None:
    """Stop polling a feed but keep it and its history."""
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        store_feeds.set_feed_enabled(session, feed_id, False, runtime.clock.now())
    typer.echo(f"disabled feed {feed_id}")


def feed_status(feed: Feed) -> str:
    """ok | failing | disabled | new (never polled)."""
    if not feed.enabled:
        return "disabled"
    if feed.failures:
        return "failing"
    return "ok" if feed.last_ok else "new"


@app.command("health")
def health(as_json: JsonOption = False) -> None:
    """Each feed's status, last success, last error, failure count and next poll."""
    from store import feeds as store_feeds
    from store.db import transaction
    from store.schemas import feed_json

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = store_feeds.list_feeds(session)
    if as_json:
        emit_json([{**feed_json(f), "status": feed_status(f)} for f in rows])
        return
    table(
        ["id", "name", "status", "last ok", "failures", "next poll", "last error"],
        [
            [f.id, f.name, feed_status(f), f.last_ok, f.failures, f.next_poll_at, f.last_error]
            for f in rows
        ],
    )
    failing = sum(1 for f in rows if feed_status(f) == "failing")
    typer.echo(f"\n{len(rows)} feeds, {failing} failing", err=True)


@app.command("import")
def import_command(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.opml", exists=True, dir_okay=False, readable=True, help="An OPML file."
        ),
    ],
) -> None:
    """Add the feeds of an OPML file (feeds already watched are skipped)."""
    from bot.opml import parse_opml
    from store import feeds as store_feeds
    from store.db import transaction
    from store.feeds import NewFeed

    found = parse_opml(file.read_bytes())
    runtime = Runtime.load()
    added = skipped = 0
    with transaction(runtime.engine) as session:
        for entry in found:
            if not entry.url.startswith(("http://", "https://")):
                typer.echo(f"skipped (not http(s)): {entry.url}", err=True)
                skipped += 1
            elif store_feeds.find_feed_by_url(session, entry.url) is not None:
                skipped += 1
            else:
                store_feeds.add_feed(
                    session,
                    NewFeed(url=entry.url, name=entry.name, language=entry.language),
                    runtime.clock.now(),
                )
                added += 1
    typer.echo(f"{added} feeds added, {skipped} skipped, from {len(found)} in {file.name}")


@app.command("export")
def export(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE.opml]", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Write the watch list as OPML (to stdout, or FILE)."""
    from bot.opml import OpmlFeed, render_opml
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        document = render_opml(
            [OpmlFeed(f.url, f.name, f.language) for f in store_feeds.list_feeds(session)]
        )
    if file is None:
        typer.echo(document, nl=False)
    else:
        file.write_text(document, encoding="utf-8")
        typer.echo(f"wrote {file}", err=True)


@app.command("check")
def check(
    url: Annotated[str, typer.Argument(help="The feed's http(s) URL.")],
    as_json: JsonOption = False,
) -> None:
    """Fetch a feed and show what it yields and what would match; stores nothing."""
    import asyncio

    _check_url(url)
    runtime = Runtime.load()
    report = asyncio.run(preview_feed(runtime, url))
    if as_json:
        emit_json(report)
    else:
        typer.echo(
            f"{report['url']}: {report['entries']} entries, {len(report['matched'])} would match"
        )
        table(
            ["published", "lang", "topics", "title"],
            [
                [i["published"][:16], i["language"], i["topics"], i["title"]]
                for i in report["items"]
            ],
        )
    if report["error"]:
        raise fail(report["error"])


async def preview_feed(runtime: Runtime, url: str) -> dict[str, Any]:
    """Fetch → parse → normalise → match for one URL, with nothing written."""
    from bot.errors import ParseError
    from bot.fetch import fetch_feed, make_client
    from bot.normalize import normalize_entry
    from bot.parse import parse_feed
    from bot.rules import stored_matcher
    from bot.types import FeedRef, MatchInput

    now = runtime.clock.now()
    async with make_client() as client:
        result = await fetch_feed(client, FeedRef(id=0, url=url), now=now)
    report: dict[str, Any] = {
        "url": result.url,
        "status": result.status,
        "entries": 0,
        "items": [],
        "matched": [],
        "error": result.error,
    }
    if result.error:
        return report
    try:
        parsed = parse_feed(result.body, url=result.url)
    except ParseError as exc:
        report["error"] = str(exc)
        return report
    matcher = stored_matcher(runtime.engine)
    report["entries"] = len(parsed.entries)
    for raw in parsed.entries:
        item = normalize_entry(raw, now=now, feed_language=parsed.language)
        matches = matcher.match(MatchInput(item.title, item.summary, item.language))
        row = {
            "title": item.title,
            "link": item.link,
            "published": item.published.isoformat(),
            "language": item.language,
            "topics": [m.slug for m in matches],
            "terms": sorted({t for m in matches for t in m.terms}),
        }
        report["items"].append(row)
        if matches:
            report["matched"].append(row)
    return report
