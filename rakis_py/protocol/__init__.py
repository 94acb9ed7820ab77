"""The sans-IO protocol core: packets, canonical JSON, identity, consensus, quorum state machine.

Nothing in this package touches a clock, a socket, a file, a worker or JavaScript. Time and
randomness are passed in. See docs/core-api.md for the contracts between modules.
"""
