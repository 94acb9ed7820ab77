"""Fixes applied to the pinned Trystero (@trystero-p2p/core 0.25.4) before it is bundled.

Each patch is an exact text replacement in one file of node_modules that must match exactly once
(or be applied already): a Trystero update that moves the code stops the build here instead of
shipping an unpatched bundle. The bundle cache key includes `digest()`.

Stale pooled offers (found by tests/network and tests/serve/linkstress): Trystero keeps a pool of
20 ready WebRTC offers and, for an offer older than `offerTtl` (57 s), rolls it back and restarts
ICE. The restarted offer's SDP is taken before the new ICE candidates are gathered, and those
candidates go to a handler that drops them, so the answering peer never learns where to connect:
every tab older than a minute failed to link with a newcomer ("could not connect to peer ... after
exchanging SDP"), on every channel, again at each retry. The patch never restarts a pooled offer:
offers are replaced by fresh ones before they age out (every ~19 s, those older than ~29 s), and a
recycled offer is destroyed and replaced. A fresh offer's SDP holds its candidates by the time it is
used, as for the pool's first offers."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .hashing import BuildError

OFFER_POOL = "@trystero-p2p/core/dist/offer-pool.mjs"

PATCHES = [
    (OFFER_POOL,
     """		this.cleanupTimer = setInterval(() => {
			this.pool = this.pool.filter((peer) => {
				if (peer.isDead) {
					this.pooled.delete(peer);
					return false;
				}
				return true;
			});
		}, offerTtl);""",
     """		this.cleanupTimer = setInterval(() => {
			const now = Date.now();
			let replaced = 0;
			this.pool = this.pool.filter((peer) => {
				if (peer.isDead || now - peer.created > offerTtl / 2) {
					this.pooled.delete(peer);
					if (!peer.isDead) {
						peer.setHandlers({ connect: noOp, close: noOp, error: noOp });
						peer.destroy();
					}
					replaced += 1;
					return false;
				}
				return true;
			});
			if (this.active) alloc(replaced, this.makeOffer).forEach((p) => this.push(p));
		}, offerTtl / 3);"""),
    (OFFER_POOL,
     """		this.recycling.add(peer);
		peer.setHandlers({
			connect: noOp,
			close: noOp,
			error: noOp
		});
		peer.getOffer(true).then((offer) => {
			if (!offer || offer.type !== "offer" || peer.isDead || !this.active) {
				peer.destroy();
				return;
			}
			this.push(peer);
		}).catch(() => peer.destroy()).finally(() => this.recycling.delete(peer));""",
     """		peer.setHandlers({
			connect: noOp,
			close: noOp,
			error: noOp
		});
		peer.destroy();
		this.push(this.makeOffer());"""),
]


def digest() -> str:
    h = hashlib.sha256()
    for path, old, new in PATCHES:
        h.update(f"{path}\0{old}\0{new}\0".encode())
    return h.hexdigest()


def apply(node_modules: Path, log) -> None:
    """Patch node_modules in place (idempotent)."""
    for rel, old, new in PATCHES:
        path = node_modules / rel
        text = path.read_text()
        if new in text:
            continue
        if text.count(old) != 1:
            raise BuildError(f"trystero patch does not apply to {rel} (found {text.count(old)} matches): "
                             "the pinned Trystero changed; see build_support/trystero_patches.py")
        path.write_text(text.replace(old, new))
        log(f"patched {rel}")
