"""Settings.check_home: what commands that only read require of the home before opening the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from lockgate.config import NoHome, load
from lockgate.core.errors import UsageError
from lockgate.store.sql import SqlStore


def test_a_missing_home_names_the_place_and_what_chose_it(tmp_path: Path) -> None:
    expected = rf"no lockgate home here: {tmp_path / 'h'} does not exist \(set by LOCKGATE_HOME\)"
    with pytest.raises(NoHome, match=expected):
        load({"LOCKGATE_HOME": str(tmp_path / "h")}).check_home()
    (tmp_path / "lockgate.toml").write_text('home = "state"\n')
    with pytest.raises(NoHome, match=rf"set by home in {tmp_path / 'lockgate.toml'}"):
        load({}, cwd=tmp_path).check_home()


def test_a_sqlite_database_url_is_checked_as_the_home_and_a_server_database_is_not(tmp_path: Path) -> None:
    url = f"sqlite+pysqlite:///{tmp_path / 'runs.db'}"
    with pytest.raises(NoHome, match=rf"{tmp_path / 'runs.db'} does not exist \(named by database_url"):
        load({"LOCKGATE_DATABASE_URL": url}).check_home()
    SqlStore(f"sqlite:///{tmp_path / 'runs.db'}").close()
    load({"LOCKGATE_DATABASE_URL": url}).check_home()
    load({"LOCKGATE_DATABASE_URL": "postgresql+psycopg://app@db.example.com/lockgate"}).check_home()


def test_an_existing_home_passes_and_a_home_that_is_a_file_is_refused_at_load(tmp_path: Path) -> None:
    SqlStore(f"sqlite:///{tmp_path / 'h' / 'lockgate.db'}").close()
    load({"LOCKGATE_HOME": str(tmp_path / "h")}).check_home()
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        load({"LOCKGATE_HOME": str(tmp_path / "f")})
