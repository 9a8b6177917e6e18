"""The check groups. Every module here defining `GROUP = CheckGroup(...)` is found by scan and run
in `order`; numbers follow issue 5: 1 REST and CapabilityStatement truth, 2 validators, 3 SMART
(a module of its own, added with the SMART checks), 4 OperationOutcome battery."""
