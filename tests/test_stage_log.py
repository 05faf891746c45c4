"""The stage markers of ``socialcrm run`` ($SOCIALCRM_STAGE_LOG), without running the job."""

from __future__ import annotations

import json

import pytest

from socialcrm import cli


def test_markers_are_json_lines(tmp_path, monkeypatch):
    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(cli.STAGE_LOG_ENV, str(log))
    with cli._stage("features"):
        cli.write_stage_marker("features:inner", "start")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(m["stage"], m["event"]) for m in lines] == [
        ("features", "start"),
        ("features:inner", "start"),
        ("features", "end"),
    ]
    assert all(set(m) == {"stage", "event", "t"} for m in lines)
    assert all(isinstance(m["t"], float) for m in lines)
    assert lines[0]["t"] <= lines[1]["t"] <= lines[2]["t"]


def test_a_failing_stage_stays_open(tmp_path, monkeypatch):
    log = tmp_path / "stages.jsonl"
    monkeypatch.setenv(cli.STAGE_LOG_ENV, str(log))
    with pytest.raises(RuntimeError), cli._stage("train:clv"):
        raise RuntimeError("boom")
    assert [json.loads(line)["event"] for line in log.read_text().splitlines()] == ["start"]


def test_nothing_written_when_unset(tmp_path, monkeypatch):
    monkeypatch.delenv(cli.STAGE_LOG_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    with cli._stage("ingest"):
        pass
    assert list(tmp_path.iterdir()) == []
