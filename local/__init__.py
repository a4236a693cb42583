"""The local runtime: the deployed handlers and the synthesized API wiring, served on 127.0.0.1 over moto.

``python -m local`` (``make run``) synthesizes the CDK app, starts an embedded single-threaded moto server for
the table, the secret and the config parameters, seeds demo tenants, keys and jobs, and serves the API Gateway
routes of the template through the same Lambda handlers that run in AWS.
"""
