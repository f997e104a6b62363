# purista runtime, copied unchanged into each project. Do not edit: `purista generate` rewrites it.
"""The runtime of a purista project: Celery app, bridge, context, job queues, settings."""
