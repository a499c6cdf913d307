"""Health and membership diagnostics: model, rules, sharing, console (issue 6).

Layers (arrows point down): ``model`` (frozen values) and ``watched`` (Protocols: what
diagnostics reads from a daemon, so it never imports runtime/) <- ``rules`` (YAML
thresholds -> grades) <- ``health`` (statistics() -> snapshot) / ``collector`` (snapshots from the
``diag:health`` group -> graded ``ClusterHealth``) <- ``publisher`` (one per daemon, in its
process; it also advertises the daemon in the local daemons' directory, ``rundir``) /
``attach`` (``RingWatcher``: a console's view of the ring -- health, the topic registry,
node logs -- that outlives the sessions it watches through) <- ``tables`` and ``console``
(rich renderables, the only rich importers besides the commands) <- ``monitor_command`` /
``status_command``. ``status`` defines the stable ``robot-gcs status --json`` document.
"""

from .collector import DIAG_GROUP, HealthCollector, decode_snapshot, encode_snapshot
from .health import StatsSampler
from .model import (ClusterHealth, DaemonHealth, DaemonView, Grade, GroupHealth,
                    MembershipEvent, SessionHealth, TopicHealth)
from .publisher import (HealthPublisher, ensure_publisher, health_of, register_topic_source,
                        unregister_topic_source)
from .rules import RuleSet, load_rules, parse_rules

__all__ = [
    "DIAG_GROUP", "HealthCollector", "decode_snapshot", "encode_snapshot", "StatsSampler",
    "ClusterHealth", "DaemonHealth", "DaemonView", "Grade", "GroupHealth", "MembershipEvent",
    "SessionHealth", "TopicHealth", "HealthPublisher", "ensure_publisher", "health_of", "register_topic_source",
    "unregister_topic_source", "RuleSet", "load_rules", "parse_rules",
]
