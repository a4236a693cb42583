"""Helpers shared by the test tiers: moto set-up, the table from the schema, API Gateway events."""
