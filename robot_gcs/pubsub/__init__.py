"""Topics, services and parameters on process groups: Node and what it hands out.

See node.py for the theory of operation; codec.py for the wire format of messages,
registry.py for discovery, services.py, parameters.py and logs.py for the rest.
"""

from .codec import Sample, codec_for
from .endpoints import Publisher, Subscription, Timer, TopicStats, TopicTypeError
from .logs import Log, NodeLogger
from .node import Node
from .parameters import Parameter, ParameterError, ParameterType, SetParametersResult
from .qos import QoS, group_topic, topic_group
from .services import (Client, ServiceError, ServiceFuture, ServiceServer, ServiceTimeout,
                       ServiceUnavailable)

__all__ = ["Node", "QoS", "Publisher", "Subscription", "Timer", "TopicStats", "TopicTypeError",
           "Sample", "codec_for", "topic_group", "group_topic", "Log", "NodeLogger",
           "Parameter", "ParameterError", "ParameterType", "SetParametersResult", "Client",
           "ServiceServer", "ServiceFuture", "ServiceError", "ServiceTimeout",
           "ServiceUnavailable"]
