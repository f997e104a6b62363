"""The spec format: models of `purista.yaml` and the names derived from it."""

from purista.spec.models import Spec
from purista.spec.names import ClassName, KubeName, PythonIdentifier

__all__ = ["ClassName", "KubeName", "PythonIdentifier", "Spec"]
