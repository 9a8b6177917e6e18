"""Dialects: one module per backend protocol family (hl7v2, vendor_json), each pure."""
