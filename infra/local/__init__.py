"""The local runtime (``python -m infra.local``, ``make run``): the synthesized stack's handlers and wiring served on
127.0.0.1 over moto. :mod:`infra.local.runtime` starts and stops its parts."""
