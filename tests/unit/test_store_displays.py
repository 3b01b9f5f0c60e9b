"""The store's display credentials: created, found by id and by secret hash, listed per farm,
deleted; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from farmbridge.domain.clock import FakeClock
from farmbridge.domain.displays import Display
from farmbridge.domain.errors import NotFound
from farmbridge.store.sql import SqlStore

T0 = 1_700_000_000_000


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqlStore]:
    s = SqlStore(database_url, clock=FakeClock(wall_ms=T0))
    await s.start()
    yield s
    await s.close()


async def _display(store: SqlStore, farm_id: int, name: str, **kw: object) -> Display:
    values: dict[str, object] = {
        "secret_hash": f"hash-of-{name}",
        "token_key": f"key-{name}",
        "created_by": None,
        "expires_ms": None,
        **kw,
    }
    return await store.create_display(farm_id, name, **values)  # type: ignore[arg-type]


async def test_display_is_stored_found_listed_and_deleted(store: SqlStore) -> None:
    """A created display is found by id and by secret hash, listed on its farm only, and
    gone once deleted."""
    a = await store.create_farm("a", "A")
    b = await store.create_farm("b", "B")
    user = await store.create_user("owner", "h", is_admin=False)
    wall = await _display(store, a.id, "greenhouse 2 wall", created_by=user.id, expires_ms=T0 + 5)
    assert wall == Display(
        wall.id, a.id, "greenhouse 2 wall", T0, user.id, T0 + 5, "key-greenhouse 2 wall",
        "hash-of-greenhouse 2 wall",
    )  # fmt: skip
    other = await _display(store, b.id, "barn")
    assert await store.get_display(wall.id) == wall
    assert await store.display_by_secret("hash-of-greenhouse 2 wall") == wall
    assert await store.list_displays(a.id) == [wall]
    assert await store.list_displays(b.id) == [other]
    with pytest.raises(NotFound):
        await store.delete_display(b.id, wall.id)  # not farm B's
    assert await store.delete_display(a.id, wall.id) == wall
    with pytest.raises(NotFound):
        await store.get_display(wall.id)
    with pytest.raises(NotFound):
        await store.display_by_secret("hash-of-greenhouse 2 wall")
    with pytest.raises(NotFound):
        await store.delete_display(a.id, wall.id)
    assert await store.list_displays(a.id) == []


async def test_display_of_an_unknown_farm_is_not_found(store: SqlStore) -> None:
    """A display for a farm that does not exist is refused, not stored."""
    with pytest.raises(NotFound):
        await _display(store, 424242, "nowhere")


async def test_deleting_the_creator_keeps_the_display_unattributed(store: SqlStore) -> None:
    """A display outlives the user who created it (it belongs to the farm)."""
    farm = await store.create_farm("a", "A")
    user = await store.create_user("owner", "h", is_admin=False)
    kept = await _display(store, farm.id, "wall", created_by=user.id)
    await store.delete_user(user.id)
    assert (await store.get_display(kept.id)).created_by is None
