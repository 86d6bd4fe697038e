"""Playback timing for recorded messages (pure Python, no ROS).

``paced(messages, rate)`` yields each message when its recorded offset (divided by ``rate``)
has elapsed on a monotonic clock, calling ``idle(bag_time_ns)`` while it waits (the player
publishes /clock there). Times are in nanoseconds.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from tristream_ros.errors import InputError


@dataclass(frozen=True)
class PlaybackOptions:
    rate: float = 1.0  # playback speed factor: 2.0 = twice as fast
    loop: bool = False
    topics: tuple[str, ...] = ()  # empty = every topic
    clock: bool = False  # publish /clock (rosgraph_msgs/Clock) for use_sim_time
    clock_hz: float = 40.0  # Hz, /clock publication rate while waiting
    wait_for_subscribers: int = 0  # before starting, wait until every topic has this many
    wait_timeout_s: float = 10.0
    start_delay_s: float = 0.0

    def __post_init__(self) -> None:
        if not self.rate > 0:
            raise InputError(f"playback rate must be > 0, got {self.rate}")
        if not self.clock_hz > 0:
            raise InputError(f"clock rate must be > 0 Hz, got {self.clock_hz}")


def paced(messages: Iterable, rate: float = 1.0, timestamp: Callable = lambda m: m.timestamp_ns,
          idle: Callable[[int], None] | None = None, idle_period_s: float = 0.025,
          now: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Iterator:
    """Yield ``messages`` in real time (scaled by ``rate``) relative to the first one."""
    if not rate > 0:
        raise InputError(f"playback rate must be > 0, got {rate}")
    t0_bag = t0_wall = None
    for msg in messages:
        ts = int(timestamp(msg))
        if t0_bag is None:
            t0_bag, t0_wall = ts, now()
        due = t0_wall + (ts - t0_bag) / 1e9 / rate  # wall-clock instant for this message
        while True:
            left = due - now()
            if left <= 0:
                break
            if idle is not None:
                idle(t0_bag + int((now() - t0_wall) * rate * 1e9))  # current bag time
                sleep(min(left, idle_period_s))
            else:
                sleep(left)
        yield msg
