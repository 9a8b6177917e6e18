"""Delivery to backend EHRs: per-dialect backends and the router the services push through.

May import: gateway.delivery, gateway.settings, gateway.transports, translators, stdlib.
Retries with backoff and the dead-letter queue arrive with the sync-engine issue; until then a
push either succeeds or fails the request (nothing is reported delivered that was not).
"""
