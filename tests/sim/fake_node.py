"""A tiny stand-in protocol node for simulator tests (NOT the protocol: just enough of the
request -> infer -> embed -> commit -> reveal -> consensus cycle to exercise the plumbing)."""

from __future__ import annotations

import hashlib

from rakis_py.protocol import actions as A
from rakis_py.protocol import events as E
from rakis_py.protocol.notices import ConsensusReached


def _verdict(rid: str, now: int, success: bool, winner=None, joint_hash=None, failure=None) -> ConsensusReached:
    return ConsensusReached(rid, success, "success" if success else "failed", joint_hash, now, 2, failure,
                            [], winner, None, 0, [], None, None)

REVEAL_MS = 10_000


class FakeNode:
    def __init__(self, signer, rng, verify) -> None:
        self.signer, self.rng, self.verify = signer, rng, verify
        self.me = signer.synthient_id
        self.free = 0
        self.requests: dict[str, dict] = {}
        self.jobs: dict[str, tuple] = {}
        self.out: list = []

    def _send(self, packet: dict) -> None:
        self.out.append(A.Send({"synthientId": self.me, "signature": self.signer.sign_packet(packet),
                                "packet": packet}))

    def handle(self, ev, now):
        self.out = []
        t = type(ev)
        if t is E.WorkerStatus and ev.kind == "llm" and ev.state == "ready":
            self.free += 1
        elif t is E.RequestSubmitted:
            rid = "".join(self.rng.choice("abcdefghij") for _ in range(10))
            pkt = {"type": "p2pInferenceRequest", "requestId": rid,
                   "payload": {"prompt": ev.prompt, "quorum": ev.quorum, "maxTimeMs": ev.max_time_ms,
                               "maxTokens": ev.max_tokens}, "createdAt": now}
            self._send(pkt)
            self._on_request(pkt, now)
        elif t is E.PacketReceived:
            env = ev.data
            pkt = env["packet"]
            if not self.verify(env["synthientId"], env["signature"], pkt):
                return []
            typ = pkt["type"]
            if typ == "p2pInferenceRequest":
                self._on_request(pkt, now)
            elif typ == "inferenceCommit" and pkt["requestId"] in self.requests:
                self.requests[pkt["requestId"]]["commits"][env["synthientId"]] = pkt["inferenceId"]
            elif typ == "inferenceReveal" and pkt["requestId"] in self.requests:
                self.requests[pkt["requestId"]]["reveals"][pkt["inferenceId"]] = pkt["output"]
        elif t is E.InferenceFinished:
            rid = self.jobs.pop(ev.job_id)[0]
            self.free += 1
            self.requests[rid]["output"] = ev.output
            self.jobs["e" + ev.job_id] = (rid,)
            self.out.append(A.RunEmbedding("e" + ev.job_id, "embed-0", "m", (ev.output,)))
        elif t is E.EmbeddingFinished:
            rid = self.jobs.pop(ev.job_id)[0]
            r = self.requests[rid]
            iid = rid + "." + self.me[:8] + ev.job_id
            r["mine"] = iid
            r["commits"][self.me] = iid
            self._send({"type": "inferenceCommit", "requestId": rid, "inferenceId": iid,
                        "bEmbeddingHash": hashlib.sha256(ev.bembeddings[0] + self.me.encode()).hexdigest()})
        elif t is E.TimerFired:
            kind, rid = ev.timer_id.split(":")
            r = self.requests[rid]
            if kind == "reveal" and r.get("mine"):
                r["reveals"][r["mine"]] = r["output"]
                self._send({"type": "inferenceReveal", "requestId": rid, "inferenceId": r["mine"],
                            "output": r["output"]})
            elif kind == "cons":
                self._consensus(rid, r, now)
        return self.out

    def _on_request(self, pkt: dict, now: int) -> None:
        rid = pkt["requestId"]
        if rid in self.requests:
            return
        p = pkt["payload"]
        end = now + p["maxTimeMs"]
        self.requests[rid] = {"quorum": p["quorum"], "commits": {}, "reveals": {}, "end": end}
        if self.free:
            self.free -= 1
            job = f"j{len(self.jobs)}{rid}"
            self.jobs[job] = (rid,)
            self.out.append(A.RunInference(job, "llm-0", "m", p["prompt"], 1.0, p["maxTokens"]))
        self.out.append(A.SetTimer(f"reveal:{rid}", end))
        self.out.append(A.SetTimer(f"cons:{rid}", end + REVEAL_MS))

    def _consensus(self, rid: str, r: dict, now: int) -> None:
        reveals = r["reveals"]
        if len(r["commits"]) < r["quorum"] or len(reveals) < r["quorum"]:
            self.out.append(_verdict(rid, now, False, failure="missing_reveals"))
            return
        groups: dict[str, list[str]] = {}
        for iid, out in sorted(reveals.items()):
            groups.setdefault(out.split(" ")[2], []).append(iid)
        label, members = max(sorted(groups.items()), key=lambda kv: len(kv[1]))
        joint = hashlib.sha256("".join(members).encode()).hexdigest()
        self.out.append(_verdict(rid, now, True, winner=members[0], joint_hash=joint))
        self._send({"type": "inferenceQuorumComputed", "requestId": rid, "verifiedBy": self.me,
                    "validInferenceJointHash": joint,
                    "validSingleInference": {"bEmbeddingHash": members[0]}})


def fake_factory(profile, signer, rng, verify, scenario, record=False):
    return FakeNode(signer, rng, verify)


UNKNOWN_ID = "f" * 64


class ChattyNode:
    """Broadcasts a beat every 2 s from boot to the end of the run, and every 3rd beat also sends
    one packet addressed to every peer it has heard from (some have left by then), an id no node
    has, and itself, and every 5th beat one addressed only to the unknown id: for conservation
    tests (broadcasts while alone, addressed sends to gone/unknown nodes, copies in flight at the end)."""

    def __init__(self, signer, rng, verify) -> None:
        self.signer, self.me, self.beats, self.heard = signer, signer.synthient_id, 0, set()
        self.booted = False

    def _send(self, packet: dict, to=None) -> A.Send:
        return A.Send({"synthientId": self.me, "signature": self.signer.sign_packet(packet), "packet": packet}, to)

    def handle(self, ev, now):
        t = type(ev)
        if t is E.WorkerStatus and not self.booted:
            self.booted = True
            return [A.SetTimer("beat", now + 2_000)]
        if t is E.PacketReceived:
            self.heard.add(ev.data["synthientId"])
            return []
        if t is E.TimerFired:
            self.beats += 1
            out = [self._send({"type": "beat", "n": self.beats}), A.SetTimer("beat", now + 2_000)]
            if self.beats % 3 == 0:
                out.append(self._send({"type": "direct", "n": self.beats},
                                      tuple(sorted(self.heard)) + (UNKNOWN_ID, self.me)))
            if self.beats % 5 == 0:
                out.append(self._send({"type": "lost", "n": self.beats}, (UNKNOWN_ID,)))
            return out
        return []


def chatty_factory(profile, signer, rng, verify, scenario, record=False):
    return ChattyNode(signer, rng, verify)
