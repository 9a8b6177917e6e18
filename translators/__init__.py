"""Pure translation layer: versioned profiles (data) and dialects (code), no I/O.

May import: stdlib, hl7apy, hl7, jsonschema, yaml. Never gateway, flask, sqlalchemy, sockets,
the clock or random ids: those come in through a TranslateContext so output is deterministic.
(Reading the packaged profile files at load time is the one file access, done by profile.py.)
"""
