// The page's copies of rules Python has too, run in Node over the shared case tables
// (tests/cases/*.json); prints one JSON object of results for test_shared_rules.py to compare.
import { readFileSync } from "node:fs";
import { agreementCounts, referenceHash } from "../../web/js/analytics.js";
import { iceServersProblem } from "../../web/js/transport/config.js";

const cases = (name) => JSON.parse(readFileSync(new URL(`../cases/${name}`, import.meta.url), "utf8"));

const reference = cases("reference_result.json").cases.map((c) => ({
  reference: referenceHash(c.own, c.hashes),
  counts: agreementCounts(c.own, c.hashes),
}));
const ice = cases("ice_servers.json");
console.log(JSON.stringify({
  reference,
  iceOk: ice.ok.map(iceServersProblem),
  iceBad: ice.bad.map((c) => iceServersProblem(c.value)),
}));
