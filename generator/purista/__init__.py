"""purista: a YAML spec of message-based services in, a Celery and Redis project out."""

from purista._version import __version__
from purista.errors import PuristaError, SpecError, SpecErrors
from purista.pipeline import build, generate_project, new_project

__all__ = [
    "PuristaError",
    "SpecError",
    "SpecErrors",
    "__version__",
    "build",
    "generate_project",
    "new_project",
]
