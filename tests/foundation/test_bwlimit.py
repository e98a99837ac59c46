"""`transfer.bwlimit` in rclone's --bwlimit syntax: off, a rate, a daily or weekly timetable;
what limit holds when, when it next changes, and a bad value named by its key."""

from __future__ import annotations

from datetime import datetime

import pytest

from postflow.core.bwlimit import OFF, describe_rate, parse_rate, parse_schedule
from postflow.core.config import ConfigError, build_config
from postflow.testing.streamer import run_streamer_process

KiB, MiB, GiB = 1024, 1024**2, 1024**3
MONDAY = datetime(2026, 12, 7)  # a Monday


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """`day` 0 = Monday … 6 = Sunday of one week."""
    return MONDAY.replace(day=MONDAY.day + day, hour=hour, minute=minute)


@pytest.mark.parametrize(("text", "rate"), [
    ("off", None), ("OFF", None), ("20M", 20 * MiB), ("512K", 512 * KiB), ("512k", 512 * KiB),
    ("1G", GiB), ("100B", 100), ("1.5M", 3 * MiB // 2),
])
def test_a_rate_is_bytes_per_second_with_binary_suffixes(text, rate):
    assert parse_rate(text) == rate
    schedule = parse_schedule(text)
    assert schedule.fixed and schedule.next_change(at(2, 12)) is None
    assert all(schedule.rate_at(at(day, hour)) == rate for day in range(7) for hour in (0, 12, 23))


def test_off_is_the_default_and_limits_nothing():
    assert build_config({}).transfer.bwlimit == "off"
    assert OFF.rate_at(at(0, 0)) is None and parse_schedule("off") == OFF


def test_a_daily_timetable_holds_each_rate_until_the_next_entry_and_wraps_past_midnight():
    schedule = parse_schedule("08:00,20M 19:00,off")
    assert not schedule.fixed
    for day in range(7):
        assert schedule.rate_at(at(day, 7, 59)) is None  # the 19:00 entry still holds overnight
        assert schedule.rate_at(at(day, 8, 0)) == 20 * MiB
        assert schedule.rate_at(at(day, 18, 59)) == 20 * MiB
        assert schedule.rate_at(at(day, 19, 0)) is None
    assert schedule.next_change(at(2, 7, 30)) == at(2, 8)
    assert schedule.next_change(at(2, 12, 0).replace(second=30)) == at(2, 19)
    assert schedule.next_change(at(6, 20)) == datetime(2026, 12, 14, 8)  # Sunday night: the next Monday's 08:00


def test_a_weekly_timetable_holds_from_its_day_and_time_across_the_week():
    schedule = parse_schedule("Mon-08:00,10M Sat-00:00,off")
    assert schedule.rate_at(at(0, 7, 59)) is None  # still the weekend's entry
    assert schedule.rate_at(at(0, 8)) == 10 * MiB
    assert schedule.rate_at(at(3, 3)) == 10 * MiB
    assert schedule.rate_at(at(4, 23, 59)) == 10 * MiB
    assert schedule.rate_at(at(5, 0)) is None
    assert schedule.rate_at(at(6, 23, 59)) is None
    assert schedule.next_change(at(2, 12)) == at(5, 0)
    assert parse_schedule("monday-08:00,10M saturday-00:00,off").entries == schedule.entries


def test_daily_and_weekly_entries_mix():
    schedule = parse_schedule("08:00,20M 19:00,off Sat-00:00,1M")
    assert schedule.rate_at(at(5, 7)) == MiB  # Saturday night to 08:00: the Saturday entry
    assert schedule.rate_at(at(5, 9)) == 20 * MiB
    assert schedule.rate_at(at(4, 23)) is None


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("20", "give a unit"),
    ("fast", "is not a rate"),
    ("20X", "is not a rate"),
    ("0M", "more than 0"),
    ("-5M", "is not a rate"),
    ("10M:1M", "upload and download"),
    ("08:00", "TIME,RATE"),
    ("08:00,20M 19:00", "TIME,RATE"),
    ("8h,20M", "is not a time"),
    ("24:00,20M", "no such time"),
    ("08:60,20M", "no such time"),
    ("Moon-08:00,20M", "'Moon' is not a day"),
    ("08:00,20M 08:00,off", "two entries for the same time"),
    ("08:00,20M 19:00,slow", "'slow' is not a rate"),
])
def test_a_bad_value_says_what_is_wrong(text, problem):
    with pytest.raises(ValueError, match=problem):
        parse_schedule(text)
    with pytest.raises(ConfigError, match=f"^transfer.bwlimit: .*{problem}"):
        build_config({"transfer": {"bwlimit": text}})


def test_a_number_is_not_taken_for_a_rate_without_its_unit():
    with pytest.raises(ConfigError, match="transfer.bwlimit: '20': give a unit"):
        build_config({"transfer": {"bwlimit": 20}})


def test_the_limit_reads_in_binary_units():
    assert [describe_rate(rate) for rate in (None, 100, 512 * KiB, 20 * MiB, 3 * MiB // 2, 2 * GiB)] == [
        "off", "100 B/s", "512 KiB/s", "20 MiB/s", "1.5 MiB/s", "2 GiB/s"]


def test_a_bad_bwlimit_stops_the_streamer_with_exit_2_naming_the_key(tmp_path):
    result = run_streamer_process(tmp_path, transfer={"bwlimit": "08:00,20M 19:00,fast"})
    assert result.returncode == 2, result.stderr
    assert "config error: transfer.bwlimit: 'fast' is not a rate" in result.stderr
