"""Named leases: which worker holds a role (the Telegram leader) and until when.

A lease is one ``meta`` row, ``lease:<name>`` → ``{"owner": …, "until": ISO time}``, so it
needs no table of its own and reads the same on SQLite and PostgreSQL. Every change is a
compare-and-set: ``UPDATE meta SET value = new WHERE key = … AND value = old`` succeeds for
one writer only (PostgreSQL re-checks the WHERE against the row a concurrent writer left,
in READ COMMITTED too; SQLite has one writer at a time), and the first lease is an
``INSERT … ON CONFLICT DO NOTHING``; each statement says with ``RETURNING`` whether it
wrote. So two workers starting together never meet an IntegrityError: whoever wrote
nothing lost the race and is told so, not raised at.

Times are the callers' clock (``now``): a lease runs across machines, whose clocks must
agree to well within a lease (NTP keeps them within milliseconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col

from store.models import Meta
from store.topics import get_meta

PREFIX = "lease:"


@dataclass(frozen=True, slots=True)
class Lease:
    name: str
    owner: str
    until: datetime

    def expired(self, now: datetime) -> bool:
        return self.until <= now


def _key(name: str) -> str:
    return PREFIX + name


def _encode(owner: str, until: datetime) -> str:
    return json.dumps({"owner": owner, "until": until.isoformat()}, sort_keys=True)


def _decode(name: str, value: str) -> Lease:
    document = json.loads(value)
    return Lease(name, str(document["owner"]), datetime.fromisoformat(document["until"]))


def who(session: Session, name: str) -> Lease | None:
    """The lease as stored (possibly expired), or None if nobody ever took it or it was
    released."""
    value = get_meta(session, _key(name))
    return None if value is None else _decode(name, value)


def take(session: Session, name: str, owner: str, now: datetime, seconds: float) -> Lease | None:
    """Take the lease for ``owner`` until ``now + seconds`` if it is free, expired or
    already ``owner``'s (which renews it); None when another owner holds it, or won the
    race for it just now."""
    key = _key(name)
    until = now + timedelta(seconds=seconds)
    new = _encode(owner, until)
    old = get_meta(session, key)
    if old is None:
        if not _insert_if_absent(session, key, new):
            return None
    else:
        current = _decode(name, old)
        if current.owner != owner and not current.expired(now):
            return None
        changed = session.execute(
            update(Meta)
            .where(col(Meta.key) == key, col(Meta.value) == old)
            .values(value=new)
            .returning(col(Meta.key))
        )
        if changed.first() is None:
            return None
    session.expire_all()  # the identity map still holds the value read above
    return Lease(name, owner, until)


def renew(session: Session, name: str, owner: str, now: datetime, seconds: float) -> Lease | None:
    """Extend ``owner``'s lease; None when it is no longer theirs (another owner took it
    after it expired, or it was released). An expired lease nobody took is still
    ``owner``'s to renew: nobody else acted on it."""
    current = who(session, name)
    if current is None or current.owner != owner:
        return None
    return take(session, name, owner, now, seconds)


def release(session: Session, name: str, owner: str) -> bool:
    """Give the lease up, if it is still ``owner``'s: the next worker to ask takes it at
    once instead of waiting for it to expire. True if it was released."""
    key = _key(name)
    old = get_meta(session, key)
    if old is None or _decode(name, old).owner != owner:
        return False
    gone = session.execute(
        delete(Meta).where(col(Meta.key) == key, col(Meta.value) == old).returning(col(Meta.key))
    ).first()
    session.expire_all()
    return gone is not None


def _insert_if_absent(session: Session, key: str, value: str) -> bool:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(Meta).values(key=key, value=value).on_conflict_do_nothing()
    # RETURNING, not rowcount: psycopg reports -1 for this statement through the ORM.
    return session.execute(statement.returning(col(Meta.key))).first() is not None
