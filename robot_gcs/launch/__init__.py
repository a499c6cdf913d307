"""Launch files: model, loader with file:line errors, per-processor runtime, supervisor.

See model.py for the file format, runtime.py for `launch --processor`, supervisor.py
for `launch --all`.
"""

from .loader import load_launch, parse_launch
from .model import Component, ComponentSpec, LaunchFile, ProcessorSpec, Restart, TopicSpec

__all__ = ["load_launch", "parse_launch", "Component", "ComponentSpec", "LaunchFile",
           "ProcessorSpec", "Restart", "TopicSpec"]
