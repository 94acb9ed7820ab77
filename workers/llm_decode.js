// The LLM's decode loop with seeded sampling, and its verification by re-scoring
// (docs/verifiable-inference.md). Shared by the LLM worker and the Node harness
// (rakis_py/bench/verify_llm.mjs): it takes a loaded transformers.js model + tokenizer and imports
// nothing from transformers.js itself.
//
//   promptIds(lm, messages) -> number[]        the chat template with the generation prompt, tokenized
//   generateSeeded(lm, job) -> {tokenIds, output, promptTokens, ms}
//   verifyMode(dtype) -> "prefill" | "replay"
//   verifySeeded(lm, job)   -> {positions, matches, mismatches: [{t, choice, claimed, rank, logitGap, cdfGap}],
//                               problem, promptTokens, mode, ms}
// lm: {model, tokenizer, Tensor}. job: {messages, requestId, modelSha256, maxTokens, temperature,
// topK?, topP?} (+ tokenIds and mode: "prefill" | "replay" for verifySeeded, + onToken(count) for generateSeeded).
import { scorePosition, sampleToken, structureProblem, uniforms } from "./sampler.js";

export function promptIds({ tokenizer }, messages) {
  // As transformers.js's text-generation pipeline does it: template to text, then tokenize without
  // adding special tokens (the template has them).
  const text = tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
  return Array.from(tokenizer(text, { add_special_tokens: false }).input_ids.data, Number);
}

export function stopIds({ model }) {
  const eos = model.generation_config?.eos_token_id ?? model.config.eos_token_id;
  return (Array.isArray(eos) ? eos : [eos]).filter((x) => x !== null && x !== undefined).map(Number);
}

function paramsOf(job) {
  return { temperature: job.temperature ?? 0, topK: job.topK ?? 0, topP: job.topP ?? 1 };
}

function inputs({ Tensor }, ids) {
  return {
    input_ids: new Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
    attention_mask: new Tensor("int64", new BigInt64Array(ids.length).fill(1n), [1, ids.length]),
  };
}

// transformers.js's own generate() (KV cache, EOS and max-length stopping) with a logits processor
// that draws the seeded choice from the raw logits and leaves only it finite; greedy decoding then
// takes it. The processor is synchronous, so the uniforms are computed before the loop.
export async function generateSeeded(lm, job) {
  const started = performance.now();
  const params = paramsOf(job);
  const prompt = promptIds(lm, job.messages);
  const us = await uniforms(job.requestId, job.modelSha256, job.maxTokens);
  const tokenIds = [];
  const seeded = (allIds, logits) => {
    const t = allIds[0].length - prompt.length;
    const row = logits.data;                        // [1, vocab] float32: batch of one
    const choice = sampleToken(row, params, us[t]);
    row.fill(-Infinity);
    row[choice] = 0;
    tokenIds.push(choice);
    job.onToken?.(tokenIds.length);
    return logits;
  };
  await lm.model.generate({
    ...inputs(lm, prompt),
    max_new_tokens: job.maxTokens,
    do_sample: false,
    logits_processor: [seeded],
  });
  return { tokenIds, output: decode(lm, tokenIds), promptTokens: prompt.length, ms: performance.now() - started };
}

export function decode({ tokenizer }, tokenIds) {
  return tokenizer.decode(tokenIds, { skip_special_tokens: true });
}

// How a model file can be re-scored. "q8" (onnxruntime's dynamic quantisation) quantises each
// MatMul's activations with one scale per tensor, so a prefill row depends on every other row of the
// pass: on SmolLM2 q8 a one-pass re-score matched a median 31% of honest tokens (20 outputs of 32
// tokens, wasm), against 99.5% for the fp32 export (its 3 misses all near: CDF gaps < 6e-7).
// Weight-only formats (fp32, fp16, q4) get the cheap pass.
export function verifyMode(dtype) {
  return dtype === "q8" || dtype === "int8" || dtype === "uint8" ? "replay" : "prefill";
}

// Re-scoring: the seeded choice recomputed at every output position from the verifier's own logits
// and compared with the claim. mode "prefill": one teacher-forced forward pass over prompt + claimed
// tokens (cheap). mode "replay": the decode loop again, each step forced to the claimed token (as
// costly as generating, but every logit row is computed by the same kernels on the same shapes as
// in the generation: with dynamically quantised (q8) activations the prefill's rows differ).
export async function verifySeeded(lm, job) {
  const started = performance.now();
  const params = paramsOf(job);
  const claimed = job.tokenIds.map(Number);
  const prompt = promptIds(lm, job.messages);
  const vocab = lm.model.config.vocab_size;
  const problem = structureProblem(claimed, job.maxTokens, stopIds(lm), vocab);
  // A claim the decode loop cannot have produced is rejected on its shape: no model pass is spent
  // on it (a cheap refusal also limits what junk claims can cost a verifier).
  const scored = problem ? [] : claimed;
  const us = await uniforms(job.requestId, job.modelSha256, scored.length);
  const mismatches = [];
  let positions = 0, matches = 0;
  const score = (row, t) => {
    const s = scorePosition(row, params, us[t], scored[t]);
    positions++;
    if (s.choice === s.claimed) matches++;
    else mismatches.push({ t, ...s });
  };
  if (scored.length && (job.mode ?? "prefill") === "prefill") {
    const out = await lm.model(inputs(lm, [...prompt, ...scored]));
    const logits = out.logits.type === "float32" ? out.logits : out.logits.to("float32");
    const V = logits.dims[2];
    for (let t = 0; t < scored.length; t++) {
      const at = (prompt.length - 1 + t) * V;      // the row that predicts output position t
      score(logits.data.subarray(at, at + V), t);
    }
  } else if (scored.length) {
    const forced = (allIds, logits) => {
      const t = allIds[0].length - prompt.length;
      score(logits.data, t);
      logits.data.fill(-Infinity);
      logits.data[scored[t]] = 0;
      return logits;
    };
    // A stop token inside the claim ends the loop early: structureProblem has already said so.
    await lm.model.generate({ ...inputs(lm, prompt), max_new_tokens: scored.length, do_sample: false,
                              logits_processor: [forced] });
  }
  return { positions, matches, mismatches, problem, promptTokens: prompt.length, mode: job.mode ?? "prefill",
           ms: performance.now() - started };
}
