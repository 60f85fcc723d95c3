"""Fan-out benchmark (run by hand: ``python bench/fanout_bench.py [--runs 3]``).

2,000 alerts to 500 private chats and 2 groups, through the real outbox
(``bot.deliver.outbox.deliver_pending``), the real ``TelegramSender`` over python-telegram-bot
and real HTTP, to the Bot API stand-in (``tests/support/botapi.py``) enforcing Telegram's
flood limits (private chat: burst 3 then 1/s; group: 20 per minute; bot: 30/s), paced
by the real ``Pacer`` with Telegram's limits, over a temporary SQLite file.

Goals: zero 429s, and ≥ 25 messages/s overall (≥ 83 % of Telegram's 30/s).

The queue is a fan-out as the pipeline writes it: 20 stories, story after story, each
to both groups and to 98 of the 500 private chats (a different 98 each time, so each
private chat gets 3 or 4 alerts). Groups get 2 % of the alerts (20 each): a group may
receive only 20 per minute, so at 30/s a run of ~70 s can give a group about 23 before
its limit, not the group limit, sets the pace. With ``--order chat`` each chat's alerts
are queued one after another instead (the worst case for per-chat pacing).

Reported per run: wall time (first lease to last mark), messages/s, 429s, messages
accepted, duplicates, and the most any group got in a sliding 60 s window (≤ 20).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.clock import SystemClock  # noqa: E402
from bot.deliver.outbox import deliver_pending  # noqa: E402
from bot.deliver.pacing import Pacer  # noqa: E402
from bot.deps import open_deps  # noqa: E402
from bot.settings import Secret, Settings  # noqa: E402
from bot.telegram.app import build_application  # noqa: E402
from bot.telegram.sender import TelegramSender  # noqa: E402
from store import deliveries, subscribers  # noqa: E402
from store.db import make_engine, transaction  # noqa: E402
from store.migrate import upgrade  # noqa: E402
from tests.support.botapi import BotApi, FloodLimits  # noqa: E402
from tests.support.builders import fanout_story, queue_fanout  # noqa: E402

TOKEN = "123456:BENCH"
PRIVATE_CHATS = 500
GROUPS = (-1001, -1002)
STORIES = 20
PRIVATE_PER_STORY = 98  # 20 × (98 + 2) = 2,000 alerts
GOAL_RATE = 25.0


@dataclass(frozen=True)
class RunResult:
    wall: float
    accepted: int
    too_many_requests: int
    duplicates: int
    lost: int
    group_max_60s: int
    report: str

    @property
    def rate(self) -> float:
        return self.accepted / self.wall


def prepare(path: Path, order: str) -> tuple[str, int]:
    """A migrated database with the subscribers and the queued fan-out."""
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    upgrade(engine)
    clock = SystemClock()
    ids: dict[int, int] = {}
    with transaction(engine) as session:
        for chat in range(1, PRIVATE_CHATS + 1):
            row, _ = subscribers.register(session, chat, chat_type="private", title=str(chat),
                                          language="fr", now=clock.now())
            assert row.id is not None
            ids[chat] = row.id
        for chat in GROUPS:
            row, _ = subscribers.register(session, chat, chat_type="supergroup",
                                          title=f"group {chat}", language="fr", now=clock.now())
            assert row.id is not None
            ids[chat] = row.id
    recipients = []
    for story in range(STORIES):
        start = story * PRIVATE_PER_STORY
        chats = [1 + (start + i) % PRIVATE_CHATS for i in range(PRIVATE_PER_STORY)]
        recipients.append([ids[c] for c in (*GROUPS, *chats)])
    if order == "story":
        queued = queue_fanout(engine, clock.now(), recipients)
    else:  # chat after chat: each chat's alerts back to back (one story each)
        per_chat: dict[int, int] = Counter(sid for r in recipients for sid in r)
        queued = queue_fanout(engine, clock.now(),
                              [[sid] for sid, n in per_chat.items() for _ in range(n)])
    engine.dispose()
    return url, queued


def max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, at in enumerate(times):
        while times[start] <= at - window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def deliver_all(url: str, api: BotApi) -> tuple[float, str]:
    settings = Settings(database_url=url, telegram_token=Secret(TOKEN),
                        telegram_api_url=api.base_url)
    engine = make_engine(url)
    application = build_application(settings)
    await application.initialize()
    try:
        async with open_deps(settings, engine, TelegramSender(application.bot),
                             pacer=Pacer()) as deps:
            start = time.perf_counter()
            report = await deliver_pending(deps)
            wall = time.perf_counter() - start
    finally:
        await application.shutdown()
        engine.dispose()
    summary = (f"sent {report.sent}, retried {report.retried}, failed {report.failed}, "
               f"blocked {report.blocked}")
    return wall, summary


def run_once(order: str) -> RunResult:
    with tempfile.TemporaryDirectory() as tmp:
        url, queued = prepare(Path(tmp) / "fanout.db", order)
        api = BotApi(limits=FloodLimits())  # Telegram's own limits
        try:
            wall, summary = asyncio.run(deliver_all(url, api))
            engine = make_engine(url)
            with transaction(engine) as session:
                left = deliveries.queue_depth(session)
            engine.dispose()
        finally:
            api.close()
    alerts = [m for m in api.sent if m.method == "sendMessage"]
    copies = Counter((m.chat_id, fanout_story(m.text)) for m in alerts)
    group_max = max(max_in_window([m.at for m in alerts if m.chat_id == g]) for g in GROUPS)
    return RunResult(
        wall=wall,
        accepted=len(alerts),
        too_many_requests=api.too_many_requests,
        duplicates=sum(n - 1 for n in copies.values()),
        lost=queued - len(copies),
        group_max_60s=group_max,
        report=summary + (f", still queued {left}" if left else ""),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--order", choices=("story", "chat"), default="story",
                        help="queue order: story after story (as the pipeline) or chat "
                        "after chat (worst case for per-chat pacing)")
    args = parser.parse_args()
    group_share = len(GROUPS) * STORIES / (STORIES * (PRIVATE_PER_STORY + len(GROUPS)))
    print(f"fan-out: {STORIES * (PRIVATE_PER_STORY + len(GROUPS)):,} alerts to "
          f"{PRIVATE_CHATS} private chats and {len(GROUPS)} groups, queued {args.order} "
          f"after {args.order}; {group_share:.0%} of the alerts go to the groups "
          f"({STORIES} each) so that the 20/min group limit does not bound the run")
    results = []
    for number in range(1, args.runs + 1):
        result = run_once(args.order)
        results.append(result)
        print(f"  run {number}: {result.wall:6.1f} s, {result.rate:5.1f} msg/s, "
              f"429s {result.too_many_requests}, accepted {result.accepted}, "
              f"duplicates {result.duplicates}, lost {result.lost}, "
              f"most to one group in 60 s {result.group_max_60s} (≤ 20)  [{result.report}]")
    median = statistics.median(r.rate for r in results)
    wall = statistics.median(r.wall for r in results)
    ok = (median >= GOAL_RATE and all(r.too_many_requests == 0 for r in results)
          and all(r.group_max_60s <= 20 and r.lost == 0 for r in results))
    print(f"median of {len(results)}: {wall:.1f} s wall, {median:.1f} msg/s "
          f"({median / 30:.0%} of 30/s); 429s {sum(r.too_many_requests for r in results)} "
          f"— goal ≥ {GOAL_RATE:.0f} msg/s, zero 429s: {'met' if ok else 'NOT met'}")


if __name__ == "__main__":
    main()
