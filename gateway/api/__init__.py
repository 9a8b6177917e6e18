"""HTTP layer: Flask blueprints. Views parse the request, make one service call, and respond.

May import: flask, werkzeug, gateway.errors, gateway.services (never gateway.store, sqlalchemy
or translators).
"""
