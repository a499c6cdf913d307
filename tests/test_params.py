"""Protocol parameters reject the contradictions that broke other systems."""

from __future__ import annotations

import pytest

from robot_gcs.core.params import ProtocolParams
from robot_gcs.errors import LocalProtocolError


def test_defaults_are_consistent() -> None:
    p = ProtocolParams()
    assert p.problems() == []
    assert p.token_retransmit < p.token_timeout < p.consensus_timeout
    assert p.token_hold + p.token_retransmit < p.token_timeout


def test_a_hold_that_would_outlast_the_token_timeout_is_rejected() -> None:
    # the holder keeps the token token_hold, its predecessor retransmits token_retransmit
    # after that: both must fit in the members' token timeout
    with pytest.raises(LocalProtocolError, match="token_hold .* must be below token_timeout"):
        ProtocolParams(token_hold=0.27)
    # a token lost between two holds is sent again a hold + a quarter retransmit interval
    # later, to a member whose last visit came before the first hold
    with pytest.raises(LocalProtocolError, match="twice token_hold .* must be below"):
        ProtocolParams(token_hold=0.17)
    assert ProtocolParams(token_hold=0.16).problems() == []


def test_consensus_not_above_token_is_rejected() -> None:
    with pytest.raises(LocalProtocolError, match="consensus_timeout"):
        ProtocolParams(token_timeout=1.0, consensus_timeout=1.0)


def test_from_ms_converts_config_keys() -> None:
    p = ProtocolParams.from_ms(token_ms=200, consensus_ms=240, join_ms=20, token_hold=0.01)
    assert p.token_timeout == pytest.approx(0.2)
    assert p.consensus_timeout == pytest.approx(0.24)
    assert p.join_timeout == pytest.approx(0.02)


def test_non_positive_values_are_rejected() -> None:
    with pytest.raises(LocalProtocolError, match="window_size must be positive"):
        ProtocolParams(window_size=0)
