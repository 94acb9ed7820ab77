// numpy.packbits(values > 0) with bitorder "big": bit 7 of byte 0 is values[0].
export function packSignBits(values) {
  const out = new Uint8Array(Math.ceil(values.length / 8));
  for (let i = 0; i < values.length; i++) {
    if (values[i] > 0) out[i >> 3] |= 0x80 >> (i & 7);
  }
  return out;
}
