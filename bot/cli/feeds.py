"""`mcwatch feeds …`: the watch list."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.output import emit_json, fail, table
from bot.cli.runtime import Runtime

if TYPE_CHECKING:
    from bot.types import FetchResult
    from store.models import Feed

app = typer.Typer(
    help="The watch list: list, add, edit, remove, enable, disable, check, health, "
    "import and export (OPML).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


@app.command("list")
def list_command(as_json: JsonOption = False) -> None:
    """List watched feeds with their health."""
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = store_feeds.list_feeds(session)
    if as_json:
        emit_json([_feed_json(feed) for feed in rows])
        return
    headers = ["id", "name", "lang", "country", "kind", "enabled", "last ok", "failures"]
    table(
        [*headers, "last error", "url"],
        [[*_list_row(f), _last_error(f), f.url] for f in rows],
    )


def _list_row(f: Feed) -> list[object]:
    return [f.id, f.name, f.language, f.country, f.kind, f.enabled, f.last_ok, f.failures]


def _last_error(feed: Feed) -> str | None:
    """Why the feed last failed, as an English sentence (``last_error`` holds a catalogue
    key and its arguments, ``bot.text.failure``)."""
    from bot.text import DEFAULT, describe

    return describe(feed.last_error, DEFAULT) if feed.last_error else None


def _feed_json(feed: Feed) -> dict[str, Any]:
    """SPEC's ``feeds list --json`` shape, ``last_error`` a readable sentence, and who
    is speaking (``country``, ``kind``: null when not said)."""
    from store.schemas import feed_json

    return {
        **feed_json(feed),
        "last_error": _last_error(feed),
        "country": feed.country,
        "kind": feed.kind,
    }


def _check_url(url: str) -> str:
    """The URL without surrounding whitespace; a usage error (exit 2) when it cannot
    be a feed's (``bot.ingest.discover.feed_url_problem``)."""
    from bot.ingest.discover import feed_url_problem

    url = url.strip()
    problem = feed_url_problem(url)
    if problem is not None:
        raise typer.BadParameter(f"{problem}: {url!r}", param_hint="URL")
    return url


def _check_interval(seconds: int | None) -> int | None:
    """The schedule's floor, refused here with its reason rather than raised silently."""
    from bot.ingest.schedule import MIN_INTERVAL_SECONDS

    if seconds is not None and seconds < MIN_INTERVAL_SECONDS:
        raise typer.BadParameter(
            f"{seconds} is below {MIN_INTERVAL_SECONDS} s: mcwatch never polls a publisher "
            "more often than every 5 minutes"
        )
    return seconds


def _check_feed_id(feed_id: int) -> int:
    """A feed id the database can hold (1 to ``MAX_ROW_ID``), else a usage error."""
    from bot.ids import MAX_ROW_ID

    if not 1 <= feed_id <= MAX_ROW_ID:
        raise typer.BadParameter(
            f"{feed_id} is not a feed id (ids are whole numbers from 1 to {MAX_ROW_ID})"
        )
    return feed_id


# "none" clears a feed's country or kind (``feeds edit``).
CLEAR = "none"


def checked_provenance(country: str | None, kind: str | None) -> tuple[str | None, str | None]:
    """``--country`` upper-cased and ``--kind`` checked (``bot.provenance``); "none" stays
    ``CLEAR``, absent None. A bad one is one line and exit 2, listing the valid kinds."""
    from bot.provenance import parse_country, parse_kind

    checked: list[str | None] = []
    options = (("--country", country, parse_country), ("--kind", kind, parse_kind))
    for option, value, parse in options:
        if value is None or value.strip().lower() == CLEAR:
            checked.append(None if value is None else CLEAR)
            continue
        try:
            checked.append(parse(value))
        except ValueError as exc:
            raise fail(f"{option}: {exc}", 2) from None
    return checked[0], checked[1]


CountryOption = Annotated[
    str | None,
    typer.Option(
        "--country", help="Where the outlet speaks from: ISO 3166 alpha-2 code (ML, CN, FR)."
    ),
]
KindOption = Annotated[
    str | None,
    typer.Option(
        "--kind",
        help="Who is speaking: malian_public, malian_private, chinese_state, agency, "
        "panafrican, search or blog.",
    ),
]

FeedId = Annotated[
    int,
    typer.Argument(metavar="ID", help="Feed id (see feeds list).", callback=_check_feed_id),
]


@app.command("add")
def add(
    url: Annotated[
        str, typer.Argument(help="The feed's http(s) URL, or a web page that announces one.")
    ],
    name: Annotated[str, typer.Option("--name", help="Display name (source of alerts).")] = "",
    interval: Annotated[
        int | None,
        typer.Option(
            "--interval", callback=_check_interval, help="Seconds between polls (≥ 300)."
        ),
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language of the feed: fr or en.")
    ] = None,
    country: CountryOption = None,
    kind: KindOption = None,
) -> None:
    """Watch a new feed (polled at the next tick).

    A Google News feed is of kind search unless --kind says otherwise.

    The URL is fetched once. A web page gives the feed it announces.
    The name defaults to the feed's own title.
    A feed that cannot be fetched now is added, with a warning.
    """
    import asyncio

    from bot.errors import StoreError
    from bot.ingest.normalize import names_outlet_in_title
    from bot.provenance import SEARCH
    from store import feeds as store_feeds
    from store.db import transaction
    from store.feeds import NewFeed

    url = _check_url(url)
    if lang is not None and lang not in ("fr", "en"):
        raise typer.BadParameter("must be fr or en", param_hint="--lang")
    country, kind = (None if v == CLEAR else v for v in checked_provenance(country, kind))
    if kind is None and names_outlet_in_title(url):
        kind = SEARCH  # Google News: each item is the outlet's it names (bot.provenance)
    runtime = Runtime.load()
    with transaction(runtime.engine) as session:  # before any fetch: no network for that
        if store_feeds.find_feed_by_url(session, url) is not None:
            raise StoreError(f"feed already watched: {url}")
    found = asyncio.run(find_feed(runtime, url))  # no transaction held over the network
    if found.url != url:
        typer.echo(f"found the feed the page announces: {found.url}{_others(found)}")
    with transaction(runtime.engine) as session:
        feed = store_feeds.add_feed(
            session,
            NewFeed(
                url=found.url,
                name=name or found.title,
                language=lang,
                interval=interval,
                country=country,
                kind=kind,
            ),
            runtime.clock.now(),
        )
        typer.echo(f"added feed {feed.id}: {feed.name}{_speaker(feed)}")
    if found.error:
        from bot.text import DEFAULT, describe

        typer.echo(
            "mcwatch: warning: stored, but could not be fetched now: "
            + describe(found.error, DEFAULT),
            err=True,
        )


def _others(found: FoundFeed) -> str:
    if not found.others:
        return ""
    shown = ", ".join(found.others[:3]) + (", …" if len(found.others) > 3 else "")
    return f" (the first of {len(found.others) + 1}; also {shown})"


@dataclass(frozen=True, slots=True)
class FoundFeed:
    """What ``feeds add`` stores: the feed's URL (the announced one for a page) and
    title, or, when it could not be fetched now, why (``error``)."""

    url: str
    title: str = ""
    others: tuple[str, ...] = ()  # further feeds the page announced
    error: str | None = None  # a bot.text.failure, as FetchResult.error


# A feed's title becomes its name, the source line of every alert: one line, bounded.
MAX_NAME = 200


async def find_feed(runtime: Runtime, url: str) -> FoundFeed:
    """Fetch ``url`` once (bot.ingest.fetch, its limits): a feed gives its title; an HTML page
    gives the first feed it announces (fetched in turn); the world's failures give a
    FoundFeed with ``error``. Raises ParseError when what answered is not a feed and
    announces none — or announces one that is not a feed either."""
    from bot.errors import ParseError
    from bot.ingest.fetch import fetch_feed, make_client
    from bot.ingest.parse import parse_feed
    from bot.types import FeedRef

    now = runtime.clock.now()
    async with make_client() as client:
        result = await fetch_feed(client, FeedRef(id=0, url=url), now=now)
        if result.error:
            return FoundFeed(url, error=result.error)
        try:
            parsed = parse_feed(result.body, url=result.url, content_type=result.content_type)
            return FoundFeed(url, title=_name(parsed.title))
        except ParseError as exc:
            links = await _announced(result)
            if not links:
                raise ParseError(f"{url}: {exc}, and it announces no feed") from None
        chosen, others = links[0], tuple(links[1:])
        feed = await fetch_feed(client, FeedRef(id=0, url=chosen), now=now)
        if feed.error:
            return FoundFeed(chosen, others=others, error=feed.error)
        try:
            title = parse_feed(feed.body, url=feed.url, content_type=feed.content_type).title
        except ParseError as exc:
            raise ParseError(f"the page announces {chosen}, which is not a feed: {exc}") from None
        return FoundFeed(chosen, title=_name(title), others=others)


async def _announced(result: FetchResult) -> list[str]:
    """The feeds the fetched page announces. A public page's links into private
    addresses are left out, as fetch refuses such redirects (bot.ingest.fetch)."""
    from urllib.parse import urlsplit

    from bot.ingest.discover import announced_feeds
    from bot.ingest.fetch import is_private_host

    links = announced_feeds(result.body, result.url, result.content_type)
    if not links or await is_private_host(urlsplit(result.url).hostname or ""):
        return links
    return [link for link in links if not await is_private_host(urlsplit(link).hostname or "")]


def _name(title: str) -> str:
    return " ".join(title.split())[:MAX_NAME]


def _speaker(feed: Feed) -> str:
    """' (ML, malian_private)': who is speaking, as the admin typed it; '' when unsaid."""
    said = [value for value in (feed.country, feed.kind) if value]
    return f" ({', '.join(said)})" if said else ""


@app.command("edit")
def edit(
    feed_id: FeedId,
    name: Annotated[
        str | None, typer.Option("--name", help="Display name (source of alerts).")
    ] = None,
    interval: Annotated[
        int | None,
        typer.Option(
            "--interval", callback=_check_interval, help="Seconds between polls (≥ 300)."
        ),
    ] = None,
    lang: Annotated[
        str | None, typer.Option("--lang", help="Language of the feed: fr, en or none.")
    ] = None,
    country: CountryOption = None,
    kind: KindOption = None,
) -> None:
    """Change a feed's name, interval, language, country or kind ("none" clears the
    language, country or kind). `db seed` keeps these edits."""
    from store import feeds as store_feeds
    from store.db import transaction

    country, kind = checked_provenance(country, kind)
    changes: dict[str, Any] = {}
    if name is not None:
        name = _name(name)
        if not name:
            raise typer.BadParameter("a feed's name cannot be empty", param_hint="--name")
        changes["name"] = name
    if interval is not None:
        changes["interval"] = interval
    if lang is not None:
        if lang not in ("fr", "en", CLEAR):
            raise typer.BadParameter("must be fr, en or none", param_hint="--lang")
        changes["language"] = None if lang == CLEAR else lang
    for field, value in (("country", country), ("kind", kind)):
        if value is not None:
            changes[field] = None if value == CLEAR else value
    if not changes:
        raise typer.BadParameter(
            "nothing to change: give --name, --interval, --lang, --country or --kind"
        )
    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        feed = store_feeds.edit_feed(session, feed_id, changes)
        shown = ", ".join(f"{field} {_shown(getattr(feed, field))}" for field in changes)
        typer.echo(f"edited feed {feed_id}: {feed.name}: {shown}")


def _shown(value: object) -> str:
    return "none" if value is None else str(value)


@app.command("remove")
def remove(feed_id: FeedId) -> None:
    """Stop watching a feed (its stored items are kept)."""
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        feed = store_feeds.remove_feed(session, feed_id)
    typer.echo(f"removed feed {feed_id}: {feed.name}")


@app.command("enable")
def enable(feed_id: FeedId) -> None:
    """Resume polling a feed (due at once)."""
    _set_enabled(feed_id, True)


@app.command("disable")
def disable(feed_id: FeedId) -> None:
    """Stop polling a feed but keep it and its history."""
    _set_enabled(feed_id, False)


def _set_enabled(feed_id: int, enabled: bool) -> None:
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        feed = store_feeds.set_feed_enabled(session, feed_id, enabled, runtime.clock.now())
    typer.echo(f"{'enabled' if enabled else 'disabled'} feed {feed_id}: {feed.name}")


def _health_row(f: Feed, status: str) -> list[object]:
    return [f.id, f.name, status, f.last_ok, f.failures, f.next_poll_at, _last_error(f)]


@app.command("health")
def health(as_json: JsonOption = False) -> None:
    """Each feed's status, last success, last error, failure count and next poll."""
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        rows = store_feeds.list_feeds(session)
    if as_json:
        emit_json([{**_feed_json(f), "status": store_feeds.feed_status(f)} for f in rows])
        return
    table(
        ["id", "name", "status", "last ok", "failures", "next poll", "last error"],
        [_health_row(f, store_feeds.feed_status(f)) for f in rows],
    )
    failing = sum(1 for f in rows if store_feeds.feed_status(f) == "failing")
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
    """Add the feeds of an OPML file (feeds already watched are skipped).

    An outline without a valid http(s) URL is skipped, with one line saying why.
    A feed exported disabled (or commented out) is added disabled.
    """
    from bot.errors import ParseError
    from bot.ingest.discover import feed_url_problem
    from bot.ingest.opml import parse_opml
    from store import feeds as store_feeds
    from store.db import transaction
    from store.feeds import NewFeed

    try:
        found = parse_opml(file.read_bytes())
    except ParseError as exc:
        raise fail(f"{file}: {exc}") from None
    runtime = Runtime.load()
    added = disabled = watched = invalid = 0
    with transaction(runtime.engine) as session:
        for entry in found:
            problem = feed_url_problem(entry.url)
            if problem is not None:
                label = f"{entry.name!r} ({entry.url!r})" if entry.name else repr(entry.url)
                typer.echo(f"mcwatch: skipped {label}: {problem}", err=True)
                invalid += 1
            elif store_feeds.find_feed_by_url(session, entry.url) is not None:
                watched += 1
            else:
                for problem in entry.problems:  # a bad country or kind: added without it
                    typer.echo(f"mcwatch: {entry.name or entry.url}: {problem}", err=True)
                store_feeds.add_feed(
                    session,
                    NewFeed(
                        url=entry.url,
                        name=entry.name,
                        language=entry.language,
                        enabled=entry.enabled,
                        country=entry.country,
                        kind=entry.kind,
                    ),
                    runtime.clock.now(),
                )
                added += 1
                disabled += not entry.enabled
    invalid_urls = f"{invalid} invalid URL{'s' if invalid > 1 else ''}"
    typer.echo(
        f"{added} feed{'' if added == 1 else 's'} added"
        f"{_counts((disabled, f'{disabled} disabled'))}, "
        f"{watched + invalid} skipped"
        f"{_counts((watched, f'{watched} already watched'), (invalid, invalid_urls))}, "
        f"from {len(found)} in {file.name}"
    )


def _counts(*counts: tuple[int, str]) -> str:
    """' (2 already watched, 1 invalid URL)': the labels of the non-zero counts."""
    parts = [label for n, label in counts if n]
    return f" ({', '.join(parts)})" if parts else ""


@app.command("export")
def export(
    file: Annotated[
        Path | None,
        typer.Argument(metavar="[FILE.opml]", dir_okay=False, help="Write here instead of stdout."),
    ] = None,
) -> None:
    """Write the watch list as OPML (to stdout, or FILE); disabled feeds stay disabled."""
    from bot.ingest.opml import OpmlFeed, render_opml
    from store import feeds as store_feeds
    from store.db import transaction

    runtime = Runtime.load()
    with transaction(runtime.engine) as session:
        document = render_opml(
            [
                OpmlFeed(f.url, f.name, f.language, f.enabled, f.country, f.kind)
                for f in store_feeds.list_feeds(session)
            ]
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

    url = _check_url(url)
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
        raise fail(f"{url}: {report['error']}")


async def preview_feed(runtime: Runtime, url: str) -> dict[str, Any]:
    """Fetch → parse → normalise → match for one URL, with nothing written."""
    from bot.errors import ParseError
    from bot.ingest.fetch import fetch_feed, make_client
    from bot.ingest.normalize import names_outlet_in_title, normalize_entry
    from bot.ingest.parse import parse_feed
    from bot.ingest.stored_rules import stored_matcher
    from bot.text import DEFAULT, describe
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
        "error": describe(result.error, DEFAULT) if result.error else None,
    }
    if result.error:
        return report
    try:
        parsed = parse_feed(result.body, url=result.url, content_type=result.content_type)
    except ParseError as exc:
        from bot.ingest.discover import announced_feeds

        links = announced_feeds(result.body, result.url, result.content_type)
        report["error"] = f"{exc}; the page announces {links[0]}" if links else str(exc)
        return report
    matcher = stored_matcher(runtime.engine)
    report["entries"] = len(parsed.entries)
    for raw in parsed.entries:
        item = normalize_entry(
            raw,
            now=now,
            feed_language=parsed.language,
            outlet_in_title=names_outlet_in_title(result.url),
        )
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
