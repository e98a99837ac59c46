import sqlite3

import pytest

from postflow.core.sqlite import SqliteStore, transaction


class Notes(SqliteStore):
    name = "notes"
    ddl = "CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL UNIQUE);"


def texts(store: Notes) -> list[str]:
    return [row[0] for row in store.db.execute("SELECT text FROM notes ORDER BY id")]


@pytest.mark.asyncio
async def test_a_transaction_commits_its_writes_together(tmp_path):
    store = Notes(tmp_path / "notes.sqlite")
    await store.open()

    def write() -> None:
        with transaction(store.db) as db:
            db.execute("INSERT INTO notes (text) VALUES ('a')")
            db.execute("INSERT INTO notes (text) VALUES ('b')")

    await store.run(write)
    assert await store.run(texts, store) == ["a", "b"]
    await store.close()


@pytest.mark.asyncio
async def test_a_failed_transaction_writes_nothing_and_the_next_one_works(tmp_path):
    store = Notes(tmp_path / "notes.sqlite")
    await store.open()

    def write(*values: str) -> None:
        with transaction(store.db) as db:
            db.executemany("INSERT INTO notes (text) VALUES (?)", [(value,) for value in values])

    with pytest.raises(sqlite3.IntegrityError):
        await store.run(write, "a", "a")  # the second breaks UNIQUE after the first went in
    assert await store.run(texts, store) == []
    assert not await store.run(lambda: store.db.in_transaction)
    await store.run(write, "c")
    assert await store.run(texts, store) == ["c"]
    await store.close()
