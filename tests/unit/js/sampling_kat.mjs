// Runs workers/sampler.js over a case file (tests/cases/sampling_kat.json's input fields, or random
// cases from tests/unit/test_sampling.py) and prints what it computes, every float as the hex of its
// 8 big-endian float64 bytes so Python compares bits, not decimal strings.
//   node sampling_kat.mjs CASES.json
import fs from "node:fs";
import { detExp, sampleToken, scorePosition, structureProblem, uniform, uniformMessage } from "../../../workers/sampler.js";

const bits = (x) => {
  const dv = new DataView(new ArrayBuffer(8));
  dv.setFloat64(0, x, false);
  return Buffer.from(dv.buffer).toString("hex");
};
const fromBits = (h) => new DataView(Uint8Array.from(Buffer.from(h, "hex")).buffer).getFloat64(0, false);
const SPECIAL = { inf: Infinity, "-inf": -Infinity, nan: NaN };

function logitsOf(c) {
  if (c.logitsF32) {
    const b = Buffer.from(c.logitsF32, "hex");
    return new Float32Array(Uint8Array.from(b).buffer);
  }
  return Float32Array.from(c.logits, (x) => (typeof x === "string" ? SPECIAL[x] : x));
}

const cases = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
const out = { uniforms: [], exp: [], sample: [], structure: [] };
for (const c of cases.uniforms ?? []) {
  out.uniforms.push({ message: Buffer.from(uniformMessage(c.requestId, c.modelSha256, c.position)).toString("hex"),
                      u: bits(await uniform(c.requestId, c.modelSha256, c.position)) });
}
for (const c of cases.exp ?? []) out.exp.push(bits(detExp(fromBits(c.xBits))));
for (const c of cases.sample ?? []) {
  const logits = logitsOf(c);
  const params = { temperature: c.temperature, topK: c.topK, topP: c.topP };
  const scores = (c.claimed ?? []).map((id) => {
    const s = scorePosition(logits, params, c.u, id);
    return { choice: s.choice, rank: s.rank, logitGap: bits(s.logitGap), cdfGap: s.cdfGap === null ? null : bits(s.cdfGap) };
  });
  out.sample.push({ choice: sampleToken(logits, params, c.u), scores });
}
for (const c of cases.structure ?? []) out.structure.push(structureProblem(c.tokenIds, c.maxTokens, c.stopIds, c.vocabSize));
console.log(JSON.stringify(out));
