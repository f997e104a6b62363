"""A small project for the runtime's unit tests: the double of the module purista renders.

`project.py` plays `_purista/project.py` (installed as `purista.runtime.project` by
`tests/runtime/conftest.py`), `greeter.py` and `shouter.py` play two services'
generated `_generated/` modules, and `handlers/` holds their handlers.
"""
