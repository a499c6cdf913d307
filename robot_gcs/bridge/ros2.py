"""The ROS 2 side of a bridge: Cyclone DDS readers and writers on ROS 2's names and types.

What it owns: one DDS domain participant (and the ``Domain`` holding its XML config when
one is given), a writer per outbound rule and a reader per inbound rule. ``cyclonedds`` is
imported here, when a ROS 2 bridge is made.

ROS 2 conventions on DDS: topic ``/odom`` is the DDS topic ``rt/odom``; the type is
``nav_msgs::msg::dds_::Odometry_`` (idl.py); samples are CDR (XCDR1, what ROS 2's Cyclone
RMW speaks). QoS maps one to one: reliable -> RELIABLE (else BEST_EFFORT), depth ->
KEEP_LAST(depth), transient_local -> TRANSIENT_LOCAL durability (else VOLATILE).

Loop prevention on this side: readers ignore the writers of the bridge's own participant
(``IgnoreLocal.Participant``), so a topic bridged both ways does not echo.

Threads: Cyclone calls the readers' listeners on its own threads; they only ``take()`` and
hand the samples to the bridge's inbound queue. ``send`` runs on the bridge's node thread
(DDS writers are thread-safe).

Network: Cyclone uses what its config says. Tests and examples pass an XML config that
pins it to the loopback interface with multicast off (``loopback_config``).
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from ..errors import LocalProtocolError
from .core import ros_dds_topic
from .idl import DdsType, dds_type
from .ring import RingMessage
from .spec import BridgeSpec, DdsOptions, RemoteQoS

BLOCK_S = 1                      # longest a reliable write may block on a full history
TAKE_MAX = 256                   # samples taken per listener call


def loopback_config(domain: int | None = None) -> str:
    """A Cyclone DDS XML config that keeps all traffic on ``lo``: no multicast, unicast
    discovery of 127.0.0.1, participant indices picked automatically."""
    dom = "any" if domain is None else str(domain)
    return (f'<CycloneDDS><Domain Id="{dom}"><General><Interfaces>'
            '<NetworkInterface name="lo"/></Interfaces><AllowMulticast>false</AllowMulticast>'
            '</General><Discovery><Peers><Peer address="127.0.0.1"/></Peers>'
            '<ParticipantIndex>auto</ParticipantIndex>'
            '<MaxAutoParticipantIndex>100</MaxAutoParticipantIndex></Discovery>'
            '</Domain></CycloneDDS>')


def dds_qos(q: RemoteQoS, reader: bool) -> Any:
    """The Cyclone ``Qos`` of a ``RemoteQoS``."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.util import duration
    policies = [Policy.Reliability.Reliable(duration(seconds=BLOCK_S)) if q.reliable
                else Policy.Reliability.BestEffort,
                Policy.History.KeepLast(q.depth),
                Policy.Durability.TransientLocal if q.transient_local
                else Policy.Durability.Volatile]
    if reader:
        policies.append(Policy.IgnoreLocal.Participant)
    return Qos(*policies)


class DdsOutside:
    """The ``Outside`` of a ROS 2 bridge (bridge.py)."""

    tick_period: float | None = None

    def __init__(self, spec: BridgeSpec) -> None:
        opts = spec.options
        assert isinstance(opts, DdsOptions)
        self.spec = spec
        self.options = opts
        self._out_types: list[DdsType] = [self._type_of(r.msg_type, r.topic) for r in spec.out]
        self._in_types: list[DdsType] = [self._type_of(r.msg_type, r.topic) for r in spec.inbound]
        self._domain: Any = None
        self._participant: Any = None
        self._writers: list[Any] = []
        self._readers: list[Any] = []

    @staticmethod
    def _type_of(msg_type: Any, topic: str) -> DdsType:
        try:
            return dds_type(msg_type)
        except LocalProtocolError as exc:
            raise LocalProtocolError(f"ROS 2 bridge, topic {topic}: {exc}") from None

    def remote_out(self, index: int) -> str:
        r = self.spec.out[index]
        return ros_dds_topic(r.remote or r.topic)

    def remote_in(self, index: int) -> str:
        return ros_dds_topic(self.spec.inbound[index].remote)

    def open(self, deliver: Callable[[int, Any], None]) -> None:
        from cyclonedds.core import Listener as _Listener
        listener: Any = _Listener          # untyped in the binding
        from cyclonedds.domain import Domain, DomainParticipant
        from cyclonedds.pub import DataWriter
        from cyclonedds.sub import DataReader
        from cyclonedds.topic import Topic
        if self.options.config is not None:
            self._domain = Domain(self.options.domain, self.options.config)
        self._participant = DomainParticipant(self.options.domain)
        for i, (rule, dt) in enumerate(zip(self.spec.out, self._out_types)):
            topic = Topic(self._participant, self.remote_out(i), dt.idl_cls)
            self._writers.append(DataWriter(self._participant, topic, qos=dds_qos(rule.qos, False)))
        for i, (irule, dt) in enumerate(zip(self.spec.inbound, self._in_types)):
            topic = Topic(self._participant, self.remote_in(i), dt.idl_cls)
            self._readers.append(DataReader(self._participant, topic, qos=dds_qos(irule.qos, True),
                                            listener=listener(on_data_available=self._taker(i, dt, deliver))))

    @staticmethod
    def _taker(index: int, dt: DdsType, deliver: Callable[[int, Any], None]) -> Callable[[Any], None]:
        idl_cls = dt.idl_cls

        def on_data(reader: Any) -> None:
            for s in reader.take(TAKE_MAX):
                if isinstance(s, idl_cls):          # not a dispose / invalid sample
                    deliver(index, s)
        return on_data

    def send(self, index: int, msg: RingMessage) -> int:
        sample = self._out_types[index].to_dds(msg.value())
        self._writers[index].write(sample)
        return len(msg.body()) if msg.has_body else 0

    def to_ring(self, index: int, item: Any) -> Any:
        return self._in_types[index].from_dds(item)

    def watch(self) -> Mapping[str, Callable[[Any], Any]]:
        return {}

    def tick(self, members: tuple[str, ...], now: float) -> None:
        pass

    def close(self) -> None:
        # Deleting the participant deletes its readers and writers (listeners stop first).
        self._readers.clear()
        self._writers.clear()
        participant, self._participant = self._participant, None
        domain, self._domain = self._domain, None
        del participant, domain
