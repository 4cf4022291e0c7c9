"""sql_copy against the real PostgreSQL and MariaDB servers, SQLite files, folders and S3."""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

import lockgate
from lockgate import Retry, TaskError, UsageError, pipeline
from lockgate.tasks import sql_copy

UTC = dt.UTC


@pytest.fixture
def name() -> str:
    return f"t_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def dropped(postgres_url: str, mariadb_url: str) -> Iterator[list[tuple[str, str]]]:
    """(url, table) pairs to drop after the test."""
    tables: list[tuple[str, str]] = []
    yield tables
    for url, table in tables:
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table}"))
        engine.dispose()


def execute(url: str, *statements: str, params: list[dict] | None = None) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), params or [{}])
    engine.dispose()


def rows_of(url: str, sql: str) -> list[tuple]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.text(sql))]
    engine.dispose()
    return rows


def orders(n: int, start: int = 1) -> list[dict]:
    base = dt.datetime(2024, 3, 1, 8, 0, tzinfo=UTC)
    return [
        {
            "id": i,
            "customer": f"c{i % 7}" if i % 11 else None,
            "amount": decimal.Decimal(i) / 4,
            "paid": i % 2 == 0,
            "placed_at": base + dt.timedelta(minutes=i),
        }
        for i in range(start, start + n)
    ]


def make_pg_orders(url: str, table: str, n: int, start: int = 1) -> None:
    execute(
        url,
        f"CREATE TABLE IF NOT EXISTS {table} (id integer primary key, customer text, amount numeric(12,2),"
        " paid boolean, placed_at timestamptz)",
    )
    execute(url, f"INSERT INTO {table} VALUES (:id, :customer, :amount, :paid, :placed_at)", params=orders(n, start))


def test_postgres_table_to_a_folder_and_on_into_mariadb(
    postgres_url: str, mariadb_url: str, dropped: list, name: str, tmp_path: Path
) -> None:
    dropped += [(postgres_url, name), (mariadb_url, name)]
    make_pg_orders(postgres_url, name, 250)

    out = sql_copy(postgres_url, str(tmp_path / "lake" / "orders"), table=name, batch_size=40)
    assert out["rows"] == 250 and out["watermark"] is None
    written = pq.read_table(out["dest"])
    assert written.num_rows == 250
    assert written.schema.field("id").type == pa.int64()
    assert written.schema.field("amount").type == pa.decimal128(12, 2)
    assert written.schema.field("placed_at").type == pa.timestamp("us", tz="UTC")
    assert sorted(written.column("id").to_pylist()) == list(range(1, 251))
    assert written.column("customer").null_count == len([o for o in orders(250) if o["customer"] is None])

    loaded = sql_copy(str(tmp_path / "lake" / "orders"), mariadb_url, table=name, batch_size=64)
    assert loaded == {"rows": 250, "dest": mariadb_url, "watermark": None}
    got = rows_of(mariadb_url, f"SELECT id, customer, amount, paid, placed_at FROM {name} ORDER BY id")
    want = orders(250)
    assert [r[0] for r in got] == [o["id"] for o in want]
    assert got[10][1:4] == (None, decimal.Decimal("2.75"), 0)  # id 11: no customer
    assert got[0][4] == dt.datetime(2024, 3, 1, 8, 1)  # stored as naive UTC


@pytest.mark.parametrize("database", ["postgres", "mariadb", "sqlite"])
def test_a_load_that_fails_midway_leaves_the_table_as_it_was(
    database: str, request: pytest.FixtureRequest, name: str, tmp_path: Path, dropped: list
) -> None:
    url = f"sqlite:///{tmp_path / 'wh.db'}" if database == "sqlite" else request.getfixturevalue(f"{database}_url")
    dropped.append((url, name)) if database != "sqlite" else None
    execute(url, f"CREATE TABLE {name} (id integer primary key, label varchar(20))")
    execute(url, f"INSERT INTO {name} VALUES (:id, :label)", params=[{"id": 1, "label": "kept"}])
    ids = [*range(100, 400), 150]  # the duplicate 150 is in the last batch
    pq.write_table(pa.table({"id": ids, "label": [f"x{i}" for i in ids]}), tmp_path / "new.parquet")

    with pytest.raises(TaskError) as caught:
        sql_copy(str(tmp_path / "new.parquet"), url, table=name, batch_size=50)
    assert not caught.value.retryable
    assert rows_of(url, f"SELECT id, label FROM {name}") == [(1, "kept")]

    with pytest.raises(TaskError):
        sql_copy(str(tmp_path / "new.parquet"), url, table=name, mode="replace", batch_size=50)
    assert rows_of(url, f"SELECT id, label FROM {name}") == [(1, "kept")]


def test_replace_swaps_the_rows_of_a_table_in_one_go(
    postgres_url: str, name: str, tmp_path: Path, dropped: list
) -> None:
    dropped.append((postgres_url, name))
    pq.write_table(pa.table({"k": [1, 2, 3]}), tmp_path / "a.parquet")
    pq.write_table(pa.table({"k": [7, 8]}), tmp_path / "b.parquet")
    sql_copy(str(tmp_path / "a.parquet"), postgres_url, table=name)
    sql_copy(str(tmp_path / "a.parquet"), postgres_url, table=name)
    assert len(rows_of(postgres_url, f"SELECT k FROM {name}")) == 6
    out = sql_copy(str(tmp_path / "b.parquet"), postgres_url, table=name, mode="replace")
    assert out["rows"] == 2
    assert rows_of(postgres_url, f"SELECT k FROM {name} ORDER BY k") == [(7,), (8,)]


def test_incremental_copy_takes_only_new_rows_and_advances_only_on_commit(
    postgres_url: str, mariadb_url: str, name: str, dropped: list
) -> None:
    dropped += [(postgres_url, name), (mariadb_url, name)]
    make_pg_orders(postgres_url, name, 30)
    first = sql_copy(postgres_url, mariadb_url, table=name, watermark="placed_at", batch_size=7)
    assert first["rows"] == 30
    assert first["watermark"] == "2024-03-01T08:30:00.000000Z"
    assert sql_copy(postgres_url, mariadb_url, table=name, watermark="placed_at")["rows"] == 0

    make_pg_orders(postgres_url, name, 5, start=31)
    # A row the target refuses: the copy fails, and the watermark stays where it was.
    execute(mariadb_url, f"ALTER TABLE {name} ADD CONSTRAINT {name}_small CHECK (id <> 33)")
    with pytest.raises(TaskError):
        sql_copy(postgres_url, mariadb_url, table=name, watermark="placed_at")
    execute(mariadb_url, f"ALTER TABLE {name} DROP CONSTRAINT {name}_small")
    again = sql_copy(postgres_url, mariadb_url, table=name, watermark="placed_at")
    assert again["rows"] == 5 and again["watermark"] == "2024-03-01T08:35:00.000000Z"
    assert rows_of(mariadb_url, f"SELECT COUNT(*), COUNT(DISTINCT id) FROM {name}") == [(35, 35)]


def test_incremental_query_to_a_folder_adds_one_file_per_copy(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    execute(db, "CREATE TABLE events (seq integer, kind text)")
    execute(db, "INSERT INTO events VALUES (:s, :k)", params=[{"s": i, "k": "a" if i % 2 else "b"} for i in range(10)])
    query = "SELECT seq, kind FROM events WHERE kind = 'a'"
    assert sql_copy(db, "zone/events/", query=query, watermark="seq")["rows"] == 5
    execute(db, "INSERT INTO events VALUES (:s, :k)", params=[{"s": i, "k": "a"} for i in range(10, 13)])
    out = sql_copy(db, "zone/events/", query=query, watermark="seq")
    assert out["rows"] == 3 and out["watermark"] == 12
    assert sorted(pq.read_table("zone/events").column("seq").to_pylist()) == [1, 3, 5, 7, 9, 10, 11, 12]
    assert len(list((tmp_path / "zone" / "events").glob("*.parquet"))) == 2


def test_a_named_connection_keeps_its_password_out_of_results_logs_and_errors(
    postgres_url: str, name: str, tmp_path: Path, dropped: list
) -> None:
    dropped.append((postgres_url, name))
    secret_url = postgres_url.replace("postgres@", "postgres:s3cr3t-pw@")  # trust auth ignores it
    dead_url = "postgresql+psycopg://postgres:s3cr3t-pw@127.0.0.1:1/test"
    Path("lockgate.toml").write_text(
        f'[connections.warehouse]\nurl = "{secret_url}"\n\n[connections.gone]\nurl = "{dead_url}"\n'
    )
    pq.write_table(pa.table({"n": [1, 2]}), tmp_path / "in.parquet")

    @pipeline
    def load_it() -> None:
        sql_copy(str(tmp_path / "in.parquet"), "warehouse", table=name)
        sql_copy.options(name="broken", retry=Retry(max_attempts=1, interval=0.01))(
            str(tmp_path / "in.parquet"), "gone", table=name
        )

    run = lockgate.run(load_it)
    assert run.status == "FAILED"
    assert run.step("sql_copy").status == "SUCCEEDED"
    broken = run.step("broken")
    assert broken.attempts == 2  # a refused connection is soft: retried
    text = run.cause + str(run.to_json()) + "".join(p.read_text() for p in Path(".lockgate/logs").rglob("*.log"))
    assert "s3cr3t-pw" not in text
    assert "postgres:***@127.0.0.1" in text
    assert rows_of(postgres_url, f"SELECT COUNT(*) FROM {name}") == [(2,)]


def test_s3_round_trip_through_a_parquet_file(s3: str, postgres_url: str, tmp_path: Path) -> None:
    import s3fs

    s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3}).mkdir("copies")
    db = f"sqlite:///{tmp_path / 'out.db'}"
    query = "SELECT g AS n, 'row ' || g AS label FROM generate_series(1, 120) AS g"
    out = sql_copy(postgres_url, "s3://copies/series/one.parquet", query=query, mode="replace", batch_size=50)
    assert out == {"rows": 120, "dest": "s3://copies/series/one.parquet", "watermark": None}
    back = sql_copy("s3://copies/series/one.parquet", db, table="series")
    assert back["rows"] == 120
    assert rows_of(db, "SELECT SUM(n), MAX(label) FROM series") == [(7260, "row 99")]
    with pytest.raises(UsageError, match="mode='replace'"):
        sql_copy(postgres_url, "s3://copies/series/one.parquet", query=query)


def test_bad_arguments_are_refused_by_name(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    with pytest.raises(UsageError, match="mode 'merge'"):
        sql_copy(db, "out", table="t", mode="merge")
    with pytest.raises(UsageError, match="exactly one of table= or query="):
        sql_copy(db, "out")
    with pytest.raises(UsageError, match="needs table="):
        sql_copy("in.parquet", db)
    with pytest.raises(TaskError, match="does not exist"):
        sql_copy(db, "out", table="missing")


def test_mariadb_query_into_postgres_in_batches(postgres_url: str, mariadb_url: str, name: str, dropped: list) -> None:
    dropped += [(postgres_url, name), (mariadb_url, name)]
    execute(mariadb_url, f"CREATE TABLE {name} (id int primary key, city varchar(30), temp double, day date)")
    rows = [
        {"id": i, "city": ["Oslo", "Lima"][i % 2], "temp": i / 3, "day": dt.date(2024, 1, 1 + i % 28)}
        for i in range(90)
    ]
    execute(mariadb_url, f"INSERT INTO {name} VALUES (:id, :city, :temp, :day)", params=rows)
    out = sql_copy(
        mariadb_url,
        postgres_url,
        query=f"SELECT id, city, temp, day FROM {name} WHERE id >= 10",
        dest_table=name,
        batch_size=25,
    )
    assert out["rows"] == 80
    got = rows_of(postgres_url, f"SELECT COUNT(*), MIN(day), MAX(temp) FROM {name}")
    assert got == [(80, dt.date(2024, 1, 1), 89 / 3)]


def test_incremental_load_from_a_folder_takes_only_the_new_rows(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'wh.db'}"
    (tmp_path / "zone").mkdir()
    pq.write_table(pa.table({"seq": [1, 2, 3], "v": ["a", "b", "c"]}), tmp_path / "zone" / "one.parquet")
    assert sql_copy(str(tmp_path / "zone"), db, table="facts", watermark="seq")["rows"] == 3
    pq.write_table(pa.table({"seq": [4, 5], "v": ["d", "e"]}), tmp_path / "zone" / "two.parquet")
    out = sql_copy(str(tmp_path / "zone"), db, table="facts", watermark="seq")
    assert out == {"rows": 2, "dest": db, "watermark": 5}
    assert rows_of(db, "SELECT COUNT(*), SUM(seq) FROM facts") == [(5, 15)]


def test_a_query_column_null_in_the_whole_first_batch_is_named(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'app.db'}"
    execute(db, "CREATE TABLE notes (n integer, later integer)")
    execute(
        db, "INSERT INTO notes VALUES (:n, :later)", params=[{"n": i, "later": i if i > 5 else None} for i in range(9)]
    )
    with pytest.raises(TaskError, match="column 'later' of the query was NULL"):
        sql_copy(db, "notes.parquet", query="SELECT n, later FROM notes ORDER BY n", batch_size=4)
    assert not Path("notes.parquet").exists()
    assert sql_copy(db, "notes.parquet", table="notes", batch_size=4)["rows"] == 9
