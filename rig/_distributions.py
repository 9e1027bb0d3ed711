"""Random distributions fitted to what the platforms' documentation and field data give (median, p90)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from math import exp, log

_Z90 = 1.2815515655446004  # standard normal quantile at 0.9


@dataclass(frozen=True, slots=True)
class LogNormal:
    """A log-normal distribution fitted to its median and 90th percentile."""

    median: float
    p90: float

    def sample(self, rng: random.Random) -> float:
        sigma = log(self.p90 / self.median) / _Z90 if self.p90 > self.median else 0.0
        return float(exp(rng.gauss(log(self.median), sigma)))
