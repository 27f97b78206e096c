"""matih.yaml settings reach the engines, or fail clearly when they ask for what is not built."""

from __future__ import annotations

import pytest

from matih.exceptions import SpecError, WorkspaceError
from matih.forecast.registry import Registry
from matih.warehouse import warehouse_of
from matih.workspace import Workspace


def test_warehouse_settings_are_honoured(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: t\nwarehouse:\n  memory_limit: 1GB\n  threads: 1\n")
    wh = warehouse_of(Workspace(tmp_path))
    with wh.connect() as con:
        limit, threads = con.execute(
            "SELECT current_setting('memory_limit'), current_setting('threads')"
        ).fetchone()
    assert limit.replace(" ", "") in ("953.6MiB", "1.0GB", "1GB") and threads == 1


def test_unbuilt_engine_is_refused(tmp_path):
    (tmp_path / "matih.yaml").write_text("warehouse:\n  engine: trino\n")
    with pytest.raises(SpecError, match=r"warehouse\.engine: expected one of 'duckdb', 'spark', got 'trino'"):
        warehouse_of(Workspace(tmp_path))


def test_spark_settings_need_the_spark_engine(tmp_path):
    (tmp_path / "matih.yaml").write_text("warehouse:\n  master: spark://h:7077\n")
    with pytest.raises(SpecError, match="master is a Spark setting; add `engine: spark`"):
        warehouse_of(Workspace(tmp_path))


def test_tracking_uri_is_honoured(tmp_path):
    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    (tmp_path / "matih.yaml").write_text(f"tracking:\n  uri: {uri}\n")
    assert Registry(Workspace(tmp_path)).uri == uri


def test_find_searches_upwards_and_explains(tmp_path):
    (tmp_path / "matih.yaml").write_text("name: x\n")
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert Workspace.find(deep).root == tmp_path
    with pytest.raises(WorkspaceError, match=r"no matih\.yaml"):
        Workspace.find(tmp_path.parent)


@pytest.mark.parametrize("rate", ["lots", "0/second", "5/fortnight"])
def test_an_api_key_rate_limit_that_is_not_a_rate_names_the_file_field_and_fix(tmp_path, rate):
    from matih.exceptions import SpecError

    (tmp_path / "matih.yaml").write_text(f'api_keys:\n  - {{key: "${{K}}", rate_limit: "{rate}"}}\n')
    with pytest.raises(SpecError) as caught:
        Workspace(tmp_path).settings()
    message = str(caught.value)
    assert "matih.yaml" in message and "rate_limit" in message and "100/second" in message


def test_the_calendar_setting_reaches_the_forecaster_and_an_unknown_country_is_refused(tmp_path):
    from matih.forecast.dataset import business_calendar

    settings = "calendar:\n  retail_events: none\n  country: GB\n  subdivision: SCT\n"
    (tmp_path / "matih.yaml").write_text(settings)
    calendar = business_calendar(Workspace(tmp_path))
    assert (calendar.retail_events, calendar.country, calendar.subdivision) == ("none", "GB", "SCT")
    (tmp_path / "matih.yaml").write_text("calendar:\n  country: XX\n")
    with pytest.raises(WorkspaceError, match="not known to the holidays package"):
        business_calendar(Workspace(tmp_path))


def test_settings_follow_the_file_and_each_caller_gets_its_own_copy(tmp_path) -> None:
    from tests.conftest import copy_example

    ws = Workspace(copy_example(tmp_path / "novamart"))
    first = ws.settings()
    first.name = "changed by a caller"
    assert ws.settings().name == "novamart"  # a caller's change never reaches the next one
    path = ws.root / "matih.yaml"
    path.write_text(path.read_text().replace("name: novamart", "name: novamart-two"))
    assert ws.settings().name == "novamart-two"
