"""Topics on process groups: Node, publishers, subscriptions, QoS, message codecs.

See node.py for the theory of operation; codec.py for the wire format of messages.
"""

from .codec import Sample, codec_for
from .endpoints import Publisher, Subscription, Timer, TopicStats, TopicTypeError
from .node import Node
from .qos import QoS, group_topic, topic_group

__all__ = ["Node", "QoS", "Publisher", "Subscription", "Timer", "TopicStats", "TopicTypeError",
           "Sample", "codec_for", "topic_group", "group_topic"]
