"""The local runtime: the deployed handlers and the synthesized API wiring, served on 127.0.0.1 over moto.

``python -m infra.local`` (``make run``) synthesizes the CDK app, starts an embedded moto server (serialized
requests) for the stack's resources, seeds demo tenants, keys and jobs, and serves the API Gateway routes of the
template through the same Lambda handlers that run in AWS. The table's stream feeds the worker
(:mod:`infra.local.mappings`, with the mapping's filters and batch semantics), scheduled functions run on their
rates (:mod:`infra.local.schedules`), the state machine runs in moto with its tasks served in-process
(:mod:`infra.local.moto_hooks`), and published results reach a loopback webhook receiver
(:mod:`infra.sample.webhooks`).
"""
