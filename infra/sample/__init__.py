"""Loopback stand-ins for the third parties the product talks to: a CallRail API v3 look-alike serving SAMPLE
DATA (:mod:`infra.sample.callrail`, with the accounts the local runtime opens on it: :mod:`infra.sample.accounts`)
and a customer's webhook endpoint (:mod:`infra.sample.webhooks`).

They are not AWS and not part of the local runtime's emulation: the local runtime (``make run``), the CallRail
client's and the poller's tests, and the ingestion benchmark all use them.
"""
