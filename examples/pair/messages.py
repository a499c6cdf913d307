"""Types of the two-process example: a message and a service (README, "Topics, services, parameters")."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Odometry:
    x: float
    speed: float


class Reset:
    """A service type: its Request and Response are messages too."""

    @dataclass(frozen=True)
    class Request:
        x: float

    @dataclass(frozen=True)
    class Response:
        previous_x: float
