"""The small state files: atomic JSON documents, JSON-lines journals and UTC stamps."""

from __future__ import annotations

import datetime as dt
import json
import stat
import threading
from pathlib import Path

import pytest

from matih.state import append_jsonl, read_jsonl, utc_now, utc_stamp, write_json_atomic


def test_readers_never_see_half_a_document_while_threads_write(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "record.json"
    write_json_atomic(path, {"writer": -1, "payload": []})
    stop = threading.Event()
    torn: list[str] = []

    def write(writer: int) -> None:
        for i in range(200):
            write_json_atomic(path, {"writer": writer, "payload": list(range(i % 50 * 40))})

    def read() -> None:
        while not stop.is_set():
            text = path.read_text()
            try:
                json.loads(text)
            except ValueError:
                torn.append(text[:40])

    reader = threading.Thread(target=read)
    reader.start()
    writers = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    reader.join()
    assert torn == []
    assert json.loads(path.read_text())["writer"] in range(4)
    assert [p.name for p in path.parent.iterdir()] == ["record.json"]  # no temporary file left behind


def test_private_documents_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "secrets.json", {"KEY": "value"}, private=True)
    write_json_atomic(tmp_path / "open.json", {"a": 1})
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "open.json").stat().st_mode) == 0o644


def test_a_failed_write_keeps_the_previous_document(tmp_path: Path) -> None:
    path = tmp_path / "record.json"
    write_json_atomic(path, {"good": True})
    with pytest.raises(TypeError):
        write_json_atomic(path, {"bad": object()})
    assert json.loads(path.read_text()) == {"good": True}
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_journal_lines_append_and_read_back_in_order(tmp_path: Path) -> None:
    journal = tmp_path / "a" / "runs.jsonl"
    assert list(read_jsonl(journal)) == []
    for i in range(3):
        append_jsonl(journal, {"table": f"t{i}", "n": i}, durable=i == 0)
    assert [r["n"] for r in read_jsonl(journal)] == [0, 1, 2]
    assert [r["n"] for r in read_jsonl(journal, contains='"t1"')] == [1]
    assert journal.read_text().count("\n") == 3


def test_stamps_are_utc() -> None:
    now = utc_now()
    assert now.tzinfo is dt.UTC
    stamp = dt.datetime.fromisoformat(utc_stamp())
    assert stamp.utcoffset() == dt.timedelta(0) and abs((stamp - now).total_seconds()) < 5
    assert len(utc_stamp("milliseconds").split(".")[1]) == len("123+00:00")
