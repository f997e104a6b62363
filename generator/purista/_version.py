"""The version of purista."""

__version__ = "0.1.0"
