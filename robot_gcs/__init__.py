"""robot_gcs: group communication for robots.

Token-ring total order (AGREED, SAFE), Extended Virtual Synchrony membership, process
groups with agreed views, topics, launch files and a live console. See README.md.

The public API is this module (``import robot_gcs as gcs``) and its ``__all__``; the
submodules are the implementation and may change. The names, by who needs them:

* Daemons and sessions: ``Daemon`` (embedded, ``Daemon.from_file``), ``connect`` (a socket
  session to a standalone daemon), ``Session``, ``GcsConfig`` / ``load_config``.
* Events a session delivers and how messages travel: ``DataMessage``, ``GroupView``,
  ``Cause``, ``Service``.
* Topics: ``Node`` and what it hands out (``Publisher``, ``Subscription``, ``Timer``),
  ``QoS``, ``Sample`` (what a ``raw_sample=True`` callback gets), ``TopicStats``
  (``Node.statistics()``) and ``TopicTypeError`` (passed to a subscription's ``on_error``).
* Services and parameters: ``Client``, ``ServiceServer``, ``ServiceFuture`` (from
  ``Node.create_client`` / ``create_service`` / ``Client.call_async``), ``ServiceError``,
  ``ServiceUnavailable``, ``ServiceTimeout``; ``Parameter``, ``ParameterType``,
  ``SetParametersResult``, ``ParameterError``; ``NodeLogger`` (``Node.get_logger()``) and
  ``Log`` (the records on ``/rosout``).
* Component authors (classes named in a launch file): ``Component``, the base class a
  launch file's ``class:`` names (``cls(node, params)``), and ``ActiveStandby``, the
  active/standby election fed with one group's views and messages in agreed order
  (``Outgoing`` is what it asks the member to multicast).
* Errors, each saying whose fault it is: ``GcsError`` and its subclasses.
"""

from typing import Any

from .client.session import Session
from .config import GcsConfig, load_config
from .core.events import Cause, DataMessage, GroupView
from .core.types import Service
from .errors import (Backpressure, ConfigError, GcsError, LocalProtocolError,
                     MalformedPacket, RemoteProtocolError, SessionClosed)
from .launch.model import Component
from .pubsub import (Client, Log, Node, NodeLogger, Parameter, ParameterError, ParameterType,
                     Publisher, QoS, Sample, ServiceError, ServiceFuture, ServiceServer,
                     ServiceTimeout, ServiceUnavailable, SetParametersResult, Subscription,
                     Timer, TopicStats, TopicTypeError)
from .pubsub.election import ActiveStandby, Outgoing
from .runtime.daemon import Daemon


def connect(address: str, name: str, **kw: Any) -> Session:
    """A socket Session to a standalone daemon (``unix:/path`` or ``tcp:host:port``)."""
    from .client.socket_session import connect as _connect
    return _connect(address, name, **kw)


__all__ = [
    # daemons and sessions
    "Daemon", "connect", "Session", "GcsConfig", "load_config",
    # events and services
    "DataMessage", "GroupView", "Cause", "Service",
    # topics
    "Node", "Publisher", "Subscription", "Timer", "QoS", "Sample", "TopicStats",
    "TopicTypeError",
    # services, parameters, logging
    "Client", "ServiceServer", "ServiceFuture", "ServiceError", "ServiceUnavailable",
    "ServiceTimeout", "Parameter", "ParameterType", "SetParametersResult", "ParameterError",
    "NodeLogger", "Log",
    # component authors
    "Component", "ActiveStandby", "Outgoing",
    # errors
    "GcsError", "LocalProtocolError", "RemoteProtocolError", "MalformedPacket",
    "ConfigError", "Backpressure", "SessionClosed",
]
__version__ = "0.1.0"
