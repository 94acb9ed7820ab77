"""Builds the real protocol core (`rakis_py.protocol.node.Node`) for one simulated node.

The core is used unchanged; only its configuration is chosen here: no per-packet analytics
``Emit("packet")`` and no ``Persist`` of every packet (the simulator keeps its own book of every
copy, and nothing reads the stored packets back), the embedding model name of the stand-in.
"""

from __future__ import annotations

import random
from typing import Callable

from .nodes import NodeProfile
from .scenarios import Scenario


def core_node_factory(profile: NodeProfile, signer, rng: random.Random,
                      verify: Callable[[str, str, dict], bool], scenario: Scenario):
    from rakis_py.protocol.node import Node, NodeConfig
    config = NodeConfig(store_packets=False, emit_packets=False, embedding_model=scenario.embedding_model,
                        status_updates=scenario.status_updates)
    return Node(config, signer, rng, verify=verify)
