"""Proving a deployment conforms: validators, the conformance runner, and the sandbox EHRs (sandbox/). gateway/ and translators/ never import this package."""
