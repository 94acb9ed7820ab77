"""Under `./dev test` (and so CI) the suite runs in a network namespace with no route off this
machine when the kernel allows it (loopback, plus a veth pair with both ends inside, see ./dev):
nothing a test starts can reach another host. This checks the namespace is what
it claims; without it (RAKIS_NETNS=0, or no unshare) the test skips and says so."""
import os
import socket

import pytest


def test_only_loopback_is_reachable():
    if os.environ.get("RAKIS_ISOLATED") != "1":
        pytest.skip("not in the isolated namespace (./dev test sets it up when unshare works)")
    with pytest.raises(OSError):
        socket.create_connection(("192.0.2.1", 443), timeout=2)   # TEST-NET-1: any off-host route
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        socket.create_connection(s.getsockname(), timeout=2).close()
