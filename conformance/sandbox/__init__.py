"""The sandbox EHRs: fake backends that speak real protocols on loopback, for tests and demos.

- v2_ehr: an HL7 v2 EHR (MLLP listener, SQLite store, ACK/NAK rules, QBP^Q22 -> RSP^K22) with
  an HTTP control API (inbox, patients, fault injection, feeds to another listener).
- rest_ehr: a vendor REST/JSON EHR (OAuth2 client credentials, patients, appointments, paging,
  rate limit, fault injection).
- runner: starts both, returns their URLs; `run_sandboxes` blocks for the CLI.

May import: stdlib, flask/werkzeug, python-hl7, and gateway.transports (the same MLLP code the
gateway uses). gateway/ and translators/ never import this package.
"""
