"""Builds the real protocol core (`rakis_py.protocol.node.Node`) for one simulated node.

The core is used unchanged; only its configuration is chosen here: no per-packet analytics
``PacketSeen`` notice and no ``Persist`` of every packet (the simulator keeps its own book of every
copy, and nothing reads the stored packets back), no state records at all for a node that never
comes back (``persist_state=False``: nothing would read them), the embedding model name of the stand-in.
Recorded observers (``record=True``) keep both, like a browser node, for their dataset.
``core_node_restore`` rebuilds a node that comes back with ``Node.restore`` from its stored records.
"""

from __future__ import annotations

import random
from typing import Callable

from .nodes import NodeProfile
from .scenarios import Scenario


def _config(scenario: Scenario, record: bool, persist: bool = True):
    from rakis_py.protocol.node import NodeConfig
    # record=True: a recorded observer (recording.py) gets what a browser node's recorder gets.
    # persist=False: a node that never comes back builds no state records (nothing reads them).
    return NodeConfig(store_packets=record, emit_packets=record, embedding_model=scenario.embedding_model,
                      status_updates=scenario.status_updates, persist_state=persist or record)


def core_node_factory(profile: NodeProfile, signer, rng: random.Random,
                      verify: Callable[[str, str, dict], bool], scenario: Scenario, record: bool = False):
    from rakis_py.protocol.node import Node
    return Node(_config(scenario, record, persist=bool(profile.returns)), signer, rng, verify=verify)


def core_node_restore(profile: NodeProfile, signer, rng: random.Random, verify: Callable[[str, str, dict], bool],
                      scenario: Scenario, tables: dict, now: int, record: bool = False):
    """(node, actions): the node rebuilt from its stored records (its packets table is empty
    unless it was recorded: the simulator's nodes do not store packets)."""
    from rakis_py.protocol.node import Node
    return Node.restore(_config(scenario, record), signer, rng, tables, now, verify=verify)
