"""The telemetry rule state machine as tables of readings -> actions: duration, hysteresis, rate of rise, missing
data, rainstorm tightening, severity bands, late readings. Pure: no database, no clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from cloud_hub.telemetry.evaluator import RuleState, evaluate_reading, evaluate_silence
from cloud_hub.telemetry.models import TelemetryRule

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)

LEVEL = TelemetryRule.model_validate(
    {
        "id": "water-level-high",
        "metric": "water_level_cm",
        "kind": "waterlogging",
        "threshold": {
            "compare": ">=",
            "value": 15,
            "for_s": 60,
            "clear_value": 10,
            "clear_for_s": 120,
            "rainstorm": {"value": 8, "clear_value": 5, "for_s": 0},
        },
        "severity": {"default": "blue", "bands": [{"at": 15, "severity": "yellow"}, {"at": 40, "severity": "red"}]},
    }
)
RISING = TelemetryRule.model_validate(
    {
        "id": "water-rising",
        "metric": "water_level_cm",
        "kind": "waterlogging",
        "rate_of_rise": {"rise": 5, "within_s": 600, "rainstorm": {"rise": 2}},
        "severity": {"default": "yellow", "bands": [{"at": 10, "severity": "orange"}]},
    }
)
SILENT = TelemetryRule.model_validate(
    {"id": "gauge-silent", "metric": "water_level_cm", "kind": "facility_fault", "missing_data": {"after_s": 300}}
)
LAMP_DARK = TelemetryRule.model_validate(
    {
        "id": "lamp-dark",
        "metric": "current_a",
        "kind": "facility_fault",
        "threshold": {"compare": "<", "value": 0.1, "clear_value": 0.3},
        "severity": {"default": "yellow", "bands": [{"at": 0.01, "severity": "orange"}]},
    }
)


def run(rule: TelemetryRule, series: list[tuple[float, float]], rainstorm: bool = False) -> tuple[RuleState, list]:
    """Feed (seconds after T0, value) readings; return the final state and (t, phase, severity) of each action."""
    state, out = RuleState(), []
    for at_s, value in series:
        step = evaluate_reading(rule, state, T0 + timedelta(seconds=at_s), value, rainstorm)
        state = step.state
        out.extend(((a.ts - T0).total_seconds(), a.phase, a.severity) for a in step.actions)
    return state, out


@pytest.mark.parametrize(
    ("series", "expected"),
    [
        # Below the threshold: nothing.
        ([(0, 5), (60, 14.9), (120, 9)], []),
        # A breach shorter than for_s (60 s) is a blip: nothing opens.
        ([(0, 16), (30, 17), (50, 12), (200, 13)], []),
        # Held for 60 s: opens at the reading that completes the duration.
        ([(0, 16), (30, 17), (60, 18)], [(60, "start", "yellow")]),
        # The pending timer restarts after the value dips below the threshold.
        ([(0, 16), (30, 12), (40, 16), (90, 16), (100, 16)], [(100, "start", "yellow")]),
        # Hysteresis: 12 cm is under the threshold but above clear_value (10): stays open; a worse band updates.
        ([(0, 16), (60, 16), (120, 12), (600, 12), (660, 45)], [(60, "start", "yellow"), (660, "update", "red")]),
        # Below clear_value for clear_for_s (120 s) closes; a brief dip that comes back does not.
        (
            [(0, 20), (60, 20), (100, 8), (150, 12), (200, 9), (300, 9), (320, 7)],
            [(60, "start", "yellow"), (320, "end", "yellow")],
        ),
        # Severity only rises while open: 45 cm makes it red, and it ends red.
        ([(0, 45), (60, 45), (70, 20), (80, 5), (200, 5)], [(60, "start", "red"), (200, "end", "red")]),
    ],
)
def test_threshold_duration_and_hysteresis(series: list[tuple[float, float]], expected: list[Any]) -> None:
    assert run(LEVEL, series)[1] == expected


def test_rainstorm_mode_tightens_the_threshold_and_its_hold_time() -> None:
    series = [(0, 9), (30, 9), (60, 9)]
    assert run(LEVEL, series, rainstorm=False)[1] == []
    # Rainstorm: 8 cm with no hold time opens at the first reading; its clear line is 5 cm.
    assert run(LEVEL, series, rainstorm=True)[1] == [(0, "start", "blue")]
    assert run(LEVEL, [*series, (100, 6), (200, 4), (400, 4)], rainstorm=True)[1] == [
        (0, "start", "blue"),
        (400, "end", "blue"),
    ]


@pytest.mark.parametrize(
    ("series", "rainstorm", "expected"),
    [
        # Rising 4 cm in 10 min: below the 5 cm rate.
        ([(0, 10), (300, 12), (600, 14)], False, []),
        # Rising 6 cm in 10 min: opens; flat afterwards: the 10 cm reading leaves the window (min 13) and it ends.
        (
            [(0, 10), (300, 13), (600, 16), (700, 16)],
            False,
            [(600, "start", "yellow"), (700, "end", "yellow")],
        ),
        # The rise is measured from the window's minimum, not from its first reading.
        ([(0, 20), (100, 10), (400, 16)], False, [(400, "start", "yellow")]),
        # A slow rise over a long time never counts: the old readings leave the 600 s window.
        ([(0, 0), (500, 3), (1000, 6), (1500, 9), (2000, 12)], False, []),
        # 12 cm in a window reaches the orange band.
        ([(0, 0), (300, 12)], False, [(300, "start", "orange")]),
        # Rainstorm: a 3 cm rise already counts (rise 2).
        ([(0, 10), (300, 13)], True, [(300, "start", "yellow")]),
    ],
)
def test_rate_of_rise(series: list[tuple[float, float]], rainstorm: bool, expected: list[Any]) -> None:
    assert run(RISING, series, rainstorm)[1] == expected


def test_falling_threshold_with_bands_counting_downwards() -> None:
    _, actions = run(LAMP_DARK, [(0, 1.2), (10, 0.05), (20, 0.005), (30, 0.2), (40, 0.5)])
    assert actions == [(10, "start", "yellow"), (20, "update", "orange"), (40, "end", "orange")]


def test_missing_data_opens_after_silence_and_the_next_reading_ends_it() -> None:
    state, actions = run(SILENT, [(0, 3), (60, 3)])
    assert actions == []
    assert evaluate_silence(SILENT, state, T0 + timedelta(seconds=359)).actions == ()  # silent 299 s
    step = evaluate_silence(SILENT, state, T0 + timedelta(seconds=400))
    assert [(a.phase, a.subtype, a.measurements["silent_s"]) for a in step.actions] == [("start", "missing_data", 340)]
    # Already open: a second sweep does nothing.
    assert evaluate_silence(SILENT, step.state, T0 + timedelta(seconds=900)).actions == ()
    # A reading stamped before the sweep (buffered on the device) ends it no earlier than it opened.
    ended = evaluate_reading(SILENT, step.state, T0 + timedelta(seconds=390), 3.0, False)
    assert [(a.phase, (a.ts - T0).total_seconds()) for a in ended.actions] == [("end", 400)]
    assert ended.state.phase == "idle"


def test_missing_data_needs_a_first_reading() -> None:
    assert evaluate_silence(SILENT, RuleState(), T0 + timedelta(days=1)).actions == ()


def test_late_and_repeated_readings_change_nothing() -> None:
    state, actions = run(LEVEL, [(0, 16), (60, 16)])
    assert actions == [(60, "start", "yellow")]
    for at_s, value in ((60, 2), (30, 2), (0, 100)):  # resent or out of order
        step = evaluate_reading(LEVEL, state, T0 + timedelta(seconds=at_s), value, False)
        assert step.state == state and step.actions == ()


def test_action_sequence_numbers_grow_and_the_state_round_trips_through_json() -> None:
    state, seqs = RuleState(), []
    for at_s, value in [(0, 0), (300, 12), (700, 12), (2000, 12)]:
        step = evaluate_reading(RISING, state, T0 + timedelta(seconds=at_s), value, False)
        seqs.extend(a.seq for a in step.actions)
        state = RuleState.from_json(step.state.to_json())  # as it would be stored between batches
    assert seqs == [1, 2]
    assert state.phase == "idle" and state.last_value == 12
