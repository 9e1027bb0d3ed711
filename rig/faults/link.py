"""Link quality: the presets the device profiles name, and the pure model of one shaped direction.

Presets (``shared/spec/mobile-background.md`` §5; packet-level values, because the rig
shapes the TCP byte stream, not requests, as N-10 advises):

=========  ========  ===========  ===========  =====================================
preset     RTT       down         up           source
=========  ========  ===========  ===========  =====================================
slow3g     400 ms    500 kbit/s   500 kbit/s   N-3 DevTools "3G" (packet level)
slow4g     150 ms    1.6 Mbit/s   750 kbit/s   N-1 Lighthouse mobileSlow4G, N-4
fast4g      60 ms    9 Mbit/s     1.5 Mbit/s   N-5 DevTools "Fast 4G" (packet level)
cable       28 ms    5 Mbit/s     1 Mbit/s     N-6 WebPageTest Cable
wifi         4 ms    20 Mbit/s    5 Mbit/s     N-6 WebPageTest FIOS (no Wi-Fi preset exists)
=========  ========  ===========  ===========  =====================================

None of the sources gives a loss rate (WebPageTest: "no loss"), so every preset has
``loss = 0``; a LinkQuality made by hand may set one.

The model of one direction (`Pipe`), byte stream in, timed segments out:

- the stream is cut into segments of at most one MSS (1448 bytes, Ethernet with TCP
  timestamps); a segment occupies the link for ``8 * len / bits_per_s`` seconds
  (serialisation, back to back: bandwidth), then arrives half an RTT later (latency);
- **loss, as TCP shows it**: TCP never loses bytes, it retransmits them. A lost segment
  therefore arrives one retransmission timeout late (``RTT + 200 ms``: Linux's RTO is
  about SRTT + max(4 RTTVAR, 200 ms) on a steady link) and, because TCP delivers in
  order, every later byte waits behind it (head-of-line blocking). So loss is emulated
  as a stall of the whole direction. Not modelled: fast retransmit (which would shorten
  the stall to about one RTT when enough data follows) and congestion control (the
  window shrinking after a loss), so throughput under loss is optimistic;
- nothing is reordered, duplicated or dropped for good.

Pure: no clock, no sockets; the proxy feeds it the time and the byte counts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from rig._errors import ConfigError, did_you_mean

MSS = 1448
RTO_FLOOR_S = 0.2


@dataclass(frozen=True, slots=True)
class LinkQuality:
    """One link class: round trip, bandwidth each way, loss."""

    name: str
    rtt_s: float
    down_bps: float
    """Gateway to device, bits per second (0: unlimited)."""
    up_bps: float
    """Device to gateway, bits per second (0: unlimited)."""
    loss: float = 0.0
    """Probability that a segment is lost (and so arrives one RTO late, see the module doc)."""

    def __post_init__(self) -> None:
        if self.rtt_s < 0 or self.down_bps < 0 or self.up_bps < 0:
            raise ConfigError(f"link {self.name!r}: rtt and bandwidths must not be negative")
        if not 0 <= self.loss < 1:
            raise ConfigError(f"link {self.name!r}: loss is a probability in [0, 1), not {self.loss}")

    @property
    def rto_s(self) -> float:
        return self.rtt_s + RTO_FLOOR_S

    def pipes(self, rng: random.Random) -> tuple[Pipe, Pipe]:
        """(upstream, downstream) models for one connection."""
        half = self.rtt_s / 2
        return (Pipe(half, self.up_bps, self.loss, self.rto_s, rng),
                Pipe(half, self.down_bps, self.loss, self.rto_s, rng))


PRESETS: dict[str, LinkQuality] = {q.name: q for q in (
    LinkQuality("slow3g", 0.400, 500_000, 500_000),
    LinkQuality("slow4g", 0.150, 1_600_000, 750_000),
    LinkQuality("fast4g", 0.060, 9_000_000, 1_500_000),
    LinkQuality("cable", 0.028, 5_000_000, 1_000_000),
    LinkQuality("wifi", 0.004, 20_000_000, 5_000_000),
)}


def link_quality(name: str, *, where: str = "link") -> LinkQuality:
    """The preset called `name`; ConfigError naming `where` and the known presets otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"{where}: unknown link preset {name!r}{did_you_mean(name, PRESETS)} "
                          f"(known: {', '.join(PRESETS)})") from None


def check_mix(mix: Mapping[str, float], *, where: str) -> None:
    """Every preset of a profile's link mix exists and the weights are not all zero."""
    for name in mix:
        link_quality(name, where=f"{where}.{name}")
    if not any(weight > 0 for weight in mix.values()):
        raise ConfigError(f"{where}: at least one weight must be positive")


def draw_link(mix: Mapping[str, float], rng: random.Random) -> LinkQuality:
    """One link class for one device, drawn from a profile's mix by weight."""
    names = sorted(mix)
    return link_quality(rng.choices(names, [mix[n] for n in names])[0])


@dataclass(slots=True)
class Pipe:
    """One direction of one connection: when each segment of the byte stream arrives."""

    delay_s: float
    bits_per_s: float
    loss: float
    rto_s: float
    rng: random.Random
    _free_at: float = field(default=0.0, init=False)
    _last_due: float = field(default=0.0, init=False)
    stalls: int = field(default=0, init=False)

    def schedule(self, now: float, size: int) -> list[tuple[float, int]]:
        """`size` bytes handed to the link at `now`: (arrival time, length) of each segment, in order."""
        out: list[tuple[float, int]] = []
        left = size
        while left > 0:
            seg = min(MSS, left)
            left -= seg
            start = max(now, self._free_at)
            self._free_at = start + (8 * seg / self.bits_per_s if self.bits_per_s else 0.0)
            due = self._free_at + self.delay_s
            if self.loss and self.rng.random() < self.loss:
                due += self.rto_s
                self.stalls += 1
            due = max(due, self._last_due)  # in order: nothing overtakes a retransmission
            self._last_due = due
            out.append((due, seg))
        return out

    def transfer_time(self, size: int) -> float:
        """Lower bound for `size` bytes on an idle link without loss: serialisation plus delay."""
        return (8 * size / self.bits_per_s if self.bits_per_s else 0.0) + self.delay_s
