"""Silent-push delivery as APNs and FCM do it: per-device throttle, newest-only coalescing,
delivery delay and drops. Pure: time is passed in, randomness injected."""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from rig._push_policy import Push


@dataclass(slots=True)
class PushCounters:
    received: int = 0
    """Webhooks from the gateway."""
    targeted: int = 0
    """Pushes addressed to a device (a webhook reaches every device of every user who may read)."""
    delivered: int = 0
    coalesced: int = 0
    throttled: int = 0
    dropped: int = 0
    refused: int = 0
    """Delivered to an app that takes none (force-quit)."""
    overflowed: int = 0
    """Webhooks the rig itself could not route in time (its queue was full): the rig's fault, not the OS's."""


@dataclass(slots=True)
class _Device:
    profile: Push
    tokens: float
    refilled_at: float
    held: float | None = None
    """`sent_at` of the newest push held back by the throttle."""
    scheduled: float | None = None
    """`sent_at` of the push on its way (one at a time: newer ones replace it)."""


@dataclass(slots=True)
class PushDispatcher:
    rng: random.Random
    time_scale: float = 1.0
    counters: PushCounters = field(default_factory=PushCounters)
    _devices: dict[str, _Device] = field(default_factory=dict)
    _queue: list[tuple[float, int, str]] = field(default_factory=list)
    _seq: int = 0

    def register(self, device_id: str, profile: Push, now: float) -> None:
        self._devices[device_id] = _Device(profile, float(profile.throttle_capacity), now)

    def _refill(self, device: _Device, now: float) -> None:
        # The throttle's refill is an OS interval: compressed with the time scale.
        rate = device.profile.throttle_refill_per_hour * self.time_scale / 3600.0
        device.tokens = min(float(device.profile.throttle_capacity),
                            device.tokens + (now - device.refilled_at) * rate)
        device.refilled_at = now

    def submit(self, device_id: str, now: float, sent_at: float) -> None:
        """A push for `device_id`, first sent by the backend at wall time `sent_at`."""
        device = self._devices.get(device_id)
        if device is None or not device.profile.enabled:
            return
        self.counters.targeted += 1
        if device.scheduled is not None:
            device.scheduled = max(device.scheduled, sent_at)
            self.counters.coalesced += 1
            return
        self._refill(device, now)
        if device.tokens < 1:
            if device.held is not None:
                self.counters.coalesced += 1
            device.held = sent_at if device.held is None else max(device.held, sent_at)
            self.counters.throttled += 1
            return
        self._send(device_id, device, now, sent_at)

    def _send(self, device_id: str, device: _Device, now: float, sent_at: float) -> None:
        device.tokens -= 1
        if self.rng.random() < device.profile.drop_probability:
            self.counters.dropped += 1
            return
        device.scheduled = sent_at
        delay = device.profile.delay_seconds.sample(self.rng)  # network time: not scaled
        self._seq += 1
        heapq.heappush(self._queue, (now + delay, self._seq, device_id))

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def due(self, now: float) -> list[tuple[str, float]]:
        """Pushes arriving at their devices by `now`: (device id, sent_at)."""
        arrived: list[tuple[str, float]] = []
        while self._queue and self._queue[0][0] <= now:
            _, _, device_id = heapq.heappop(self._queue)
            device = self._devices[device_id]
            if device.scheduled is not None:
                arrived.append((device_id, device.scheduled))
                device.scheduled = None
        for device_id, device in self._devices.items():
            if device.held is not None and device.scheduled is None:
                self._refill(device, now)
                if device.tokens >= 1:
                    held, device.held = device.held, None
                    self._send(device_id, device, now, held)
        return arrived

    def discard_held(self, device_id: str) -> None:
        """The app was killed or force-quit: a held push is gone (APNs keeps none for it)."""
        device = self._devices.get(device_id)
        if device is not None and device.held is not None:
            device.held = None
            self.counters.dropped += 1
