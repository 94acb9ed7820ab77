// Seeded sampling and its re-scoring, bit-identical to rakis_py/protocol/sampling.py (the reference;
// docs/verifiable-inference.md is the specification, tests/cases/sampling_kat.json the shared table).
//
// The randomness of output position t is one uniform u_t = SHA-256(domain, request id, model
// sha256, t) -> 53-bit float; the token is an inverse-CDF choice over float64 weights in token-id
// order. Only IEEE float64 + - * / and floor are used (detExp is our own polynomial: Math.exp is
// implementation-defined and may differ from CPython's in the last bit). No imports: this module
// runs in the LLM worker, in Node and in tests alike.
//
//   uniforms(requestId, modelSha256, count) -> Promise<Float64Array>   (WebCrypto: async)
//   sampleToken(logits, params, u) -> id          params: {temperature, topK = 0, topP = 1}
//   scorePosition(logits, params, u, claimed) -> {choice, claimed, rank, logitGap, cdfGap}
//   structureProblem(tokenIds, maxTokens, stopIds, vocabSize) -> string | null
// `logits` is one position's Float32Array (or a subarray of the model's logits tensor).

export const DOMAIN = "rakis-seeded-sampling-v1";

const INV_LN2 = 1.4426950408889634;        // 0x3FF71547652B82FE
const LN2_HI = 6.93147180369123816490e-01;  // 0x3FE62E42FEE00000
const LN2_LO = 1.90821492927058770002e-10;  // 0x3DEA39EF35793C76
const EXP_MIN = -708.0;
const EXP_DEGREE = 13;
const COEF = [];
for (let n = 0, f = 1; n <= EXP_DEGREE; n++, f *= n) COEF.push(1 / f);   // n! exact in float64
const POW2 = [1];                            // POW2[j] = 2**-j, exact down to 2**-1022 (normal)
for (let j = 1; j <= 1022; j++) POW2.push(POW2[j - 1] / 2);

function checkParams({ temperature, topK = 0, topP = 1 }) {
  if (!(Number.isFinite(temperature) && temperature >= 0)) throw new Error(`temperature must be a finite number >= 0, got ${temperature}`);
  if (!(Number.isInteger(topK) && topK >= 0)) throw new Error(`topK must be an integer >= 0, got ${topK}`);
  if (!(topP > 0 && topP <= 1)) throw new Error(`topP must be in (0, 1], got ${topP}`);
  return { temperature, topK, topP };
}

const utf8 = new TextEncoder();

function field(bytes) {
  const out = new Uint8Array(4 + bytes.length);
  new DataView(out.buffer).setUint32(0, bytes.length, false);
  out.set(bytes, 4);
  return out;
}

// DOMAIN, then the request id (UTF-8) and the model sha256 (64 lowercase hex) each behind a 4-byte
// big-endian length, then the position as a 4-byte big-endian unsigned int.
export function uniformMessage(requestId, modelSha256, position) {
  if (!/^[0-9a-f]{64}$/.test(modelSha256)) throw new Error("model sha256 must be 64 lowercase hex digits");
  if (!(Number.isInteger(position) && position >= 0 && position < 2 ** 32)) throw new Error(`position out of range: ${position}`);
  const parts = [utf8.encode(DOMAIN), field(utf8.encode(requestId)), field(utf8.encode(modelSha256)), new Uint8Array(4)];
  new DataView(parts[3].buffer).setUint32(0, position, false);
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

// u in [0, 1): the digest's first 8 bytes as a big-endian uint64, its top 53 bits / 2**53.
export async function uniform(requestId, modelSha256, position) {
  const digest = new DataView(await crypto.subtle.digest("SHA-256", uniformMessage(requestId, modelSha256, position)));
  const hi = digest.getUint32(0, false), lo = digest.getUint32(4, false);
  return (hi * 2 ** 21 + (lo >>> 11)) / 2 ** 53;
}

// All positions' uniforms up front: transformers.js calls logits processors synchronously.
export async function uniforms(requestId, modelSha256, count) {
  const out = new Float64Array(count);
  for (let t = 0; t < count; t++) out[t] = await uniform(requestId, modelSha256, t);
  return out;
}

// exp(x) for x <= 0 by a fixed sequence of IEEE operations; 0 below EXP_MIN and for NaN.
export function detExp(x) {
  if (!(x >= EXP_MIN)) return 0;
  if (x > 0) throw new Error("detExp is defined for x <= 0");
  const k = Math.floor(x * INV_LN2 + 0.5);
  const r = (x - k * LN2_HI) - k * LN2_LO;
  let p = COEF[EXP_DEGREE];
  for (let n = EXP_DEGREE - 1; n >= 0; n--) p = p * r + COEF[n];
  return p * POW2[-k];
}

function maxFinite(logits) {
  let m = -Infinity, best = -1;
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i];
    if (Number.isFinite(l) && (best < 0 || l > m)) { m = l; best = i; }
  }
  if (best < 0) throw new Error("no finite logit");
  return { max: m, argmax: best };        // argmax: the lowest id among ties (strict >)
}

// w_i = detExp((l_i - max) / T) for finite l_i, else 0.
export function weights(logits, temperature) {
  const { max } = maxFinite(logits);
  const w = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    const l = logits[i];
    w[i] = Number.isFinite(l) ? detExp((l - max) / temperature) : 0;
  }
  return w;
}

// The ids the draw is over, ascending (see sampling.py kept_ids). The rank order is (logit desc,
// id asc) and a weight depends on the logit alone, so the rank-order sums can walk the logits sorted
// by value (a native typed-array sort, ~40x faster here than sorting ids with a comparator): the
// same float64 additions in the same order. The kept prefix is then every id above the cut logit
// plus the lowest ids equal to it.
export function keptIds(logits, params) {
  const { temperature, topK, topP } = checkParams(params);
  const finite = [];
  for (let i = 0; i < logits.length; i++) if (Number.isFinite(logits[i])) finite.push(i);
  if (topK === 0 && topP >= 1) return Int32Array.from(finite);
  const sorted = Float32Array.from(finite, (i) => logits[i]).sort();     // ascending
  const n = sorted.length;
  let keep = topK ? Math.min(topK, n) : n;
  if (topP < 1) {
    const { max } = maxFinite(logits);
    const weightAt = (j) => detExp((sorted[n - 1 - j] - max) / temperature);   // rank j's weight
    let total = 0;
    for (let j = 0; j < keep; j++) total += weightAt(j);
    const threshold = topP * total;
    let s = 0;
    for (let j = 0; j < keep; j++) {
      s += weightAt(j);
      if (s >= threshold) { keep = j + 1; break; }
    }
  }
  const cut = sorted[n - keep];
  let ties = 0;
  for (let j = n - keep; j < n; j++) if (sorted[j] === cut) ties++;
  const out = [];
  for (const i of finite) {
    const l = logits[i];
    if (l > cut) out.push(i);
    else if (l === cut && ties > 0) { out.push(i); ties--; }
  }
  return Int32Array.from(out);
}

// {choice, cum (cumulative weights over kept, id order), target = u * total}.
function draw(kept, w, u) {
  const cum = new Float64Array(kept.length);
  let c = 0;
  for (let j = 0; j < kept.length; j++) { c += w[kept[j]]; cum[j] = c; }
  const target = u * c;
  for (let j = 0; j < kept.length; j++) if (cum[j] > target) return { choice: kept[j], cum, target };
  for (let j = kept.length - 1; j >= 0; j--) if (w[kept[j]] > 0) return { choice: kept[j], cum, target };
  throw new Error("no positive weight");          // unreachable: the max logit has weight 1
}

export function sampleToken(logits, params, u) {
  const p = checkParams(params);
  if (p.temperature === 0) return maxFinite(logits).argmax;
  const w = weights(logits, p.temperature);
  return draw(keptIds(logits, p), w, u).choice;
}

// How `claimed` compares with the seeded choice (fields as sampling.py PositionScore).
export function scorePosition(logits, params, u, claimed) {
  const p = checkParams(params);
  if (!(Number.isInteger(claimed) && claimed >= 0 && claimed < logits.length)) throw new Error(`claimed token ${claimed} outside the vocabulary`);
  const lc = logits[claimed];
  let rank = 1;
  if (Number.isFinite(lc)) {
    for (let i = 0; i < logits.length; i++) {
      const l = logits[i];
      if (Number.isFinite(l) && (l > lc || (l === lc && i < claimed))) rank++;
    }
  } else {
    for (let i = 0; i < logits.length; i++) if (Number.isFinite(logits[i])) rank++;
  }
  let choice, cdfGap = null;
  if (p.temperature === 0) {
    choice = maxFinite(logits).argmax;
  } else {
    const w = weights(logits, p.temperature);
    const kept = keptIds(logits, p);
    const d = draw(kept, w, u);
    choice = d.choice;
    const at = lowerBound(kept, claimed);
    if (at < kept.length && kept[at] === claimed && w[claimed] > 0) {
      const hi = d.cum[at], lo = at ? d.cum[at - 1] : 0;
      cdfGap = lo <= d.target && d.target < hi ? 0 : Math.max(lo - d.target, d.target - hi) / d.cum[kept.length - 1];
    } else {
      cdfGap = 1;
    }
  }
  const logitGap = Number.isFinite(lc) ? logits[choice] - lc : Infinity;
  return { choice, claimed, rank, logitGap, cdfGap };
}

function lowerBound(sorted, x) {
  let lo = 0, hi = sorted.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] < x) lo = mid + 1; else hi = mid; }
  return lo;
}

// Why a claimed output cannot be what the decode loop produces, or null (sampling.py structure_problem).
export function structureProblem(tokenIds, maxTokens, stopIds, vocabSize) {
  const n = tokenIds.length;
  if (n === 0) return "empty output";
  if (n > maxTokens) return `${n} tokens, more than max tokens ${maxTokens}`;
  if (tokenIds.some((t) => !(Number.isInteger(t) && t >= 0 && t < vocabSize))) return "a token id outside the vocabulary";
  const stops = new Set(stopIds);
  if (tokenIds.slice(0, -1).some((t) => stops.has(t))) return "a stop token before the end";
  if (n < maxTokens && !stops.has(tokenIds[n - 1])) return `ends after ${n} of ${maxTokens} tokens without a stop token (truncated)`;
  return null;
}
