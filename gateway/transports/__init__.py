"""Wire transports to backend EHRs: MLLP (HL7 v2 over TCP, optionally TLS) and vendor HTTP.

May import: the stdlib (socket, ssl, socketserver) and, for http.py only, requests and authlib.
Framing, timeouts, TLS and typed errors live here; retries do not (they belong to gateway.sync),
except the single OAuth2 token refresh in http.py.
"""
