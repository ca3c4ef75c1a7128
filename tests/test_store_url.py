"""--store URLs: which store each names, and `nm deliveries --store sqlite:///…` reading the same state file as
--state-dir does."""

import json
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from nmcore.alerts import Alert, Notification
from nmcore.errors import StoreError
from nmcore.sqlitestore import STATE_FILE, SQLiteStore
from nmcore.store import Job
from nmcore.storeurl import StoreLocation, parse_store_url, state_dir_location


def test_store_urls_name_their_store_and_a_bad_one_never_echoes_its_password() -> None:
    assert parse_store_url("postgresql://nm:pw@db:5432/nmcore?sslmode=require") == StoreLocation(
        "postgresql", url="postgresql://nm:pw@db:5432/nmcore?sslmode=require")
    assert parse_store_url("postgres://db/nmcore").kind == "postgresql"
    assert parse_store_url("sqlite:///var/lib/nmcore/nmcore.db") == StoreLocation(
        "sqlite", path=Path("/var/lib/nmcore/nmcore.db"))
    assert parse_store_url(":memory:") == StoreLocation("memory")
    assert state_dir_location("/srv/state") == StoreLocation("sqlite", path=Path("/srv/state") / STATE_FILE)
    assert parse_store_url("postgresql://nm:pw@db/x").where == "postgresql://nm:***@db/x"
    with pytest.raises(StoreError, match="expected postgresql://") as raised:
        parse_store_url("redis://admin:hunter2@cache:6379")
    assert "hunter2" not in str(raised.value)


def test_nm_deliveries_reads_a_sqlite_store_by_url(tmp_path: Path) -> None:
    path = tmp_path / "state" / STATE_FILE

    async def leave_one_pending() -> None:
        store = SQLiteStore(path)
        await store.open()
        await store.add([Job(id="left-1", created=time.time(), notification=Notification(
            receiver="WebhookReceiver/ns/hook", channel="webhook", tenant="",
            alerts=(Alert(labels={"alertname": "Left"}),)))], 0)
        await store.close()

    anyio.run(leave_one_pending)
    listing = subprocess.run([sys.executable, "-m", "nmcore", "deliveries", "--store", f"sqlite://{path}", "--json"],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    found = json.loads(listing.stdout)
    assert found["state_file"] == str(path) and [j["id"] for j in found["pending"]] == ["left-1"]
