/** A host probe as a CommLens run records it (runtime/hostProbe.ts), with round figures, for replay tests. */
export const TEST_HOST_PROBE = {
  codecBytesPerNs: { fp16: 0.5, bf16: 0.4, 'int8-ef': 0.2, 'topk-dgc': 0.3, powersgd: 0.25, 'onebit-adam': 0.35 },
  d2h: { latencyNs: 50_000, bytesPerNs: 20 },
  h2d: { latencyNs: 20_000, bytesPerNs: 40 },
  loadAverage: 0.5,
};
