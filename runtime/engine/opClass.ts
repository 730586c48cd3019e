/**
 * The op class of a kernel span name (`matmul.dw 64x32x8 bwd layer0.fc` → `matmul`), used
 * to break step time down by kind of work.
 */
const CLASSES: [RegExp, string][] = [
  [/^(matmul|cast)/, 'matmul'],
  [/^attention/, 'attention'],
  [/^layer_norm/, 'layer_norm'],
  [/^(relu|gelu)/, 'activation'],
  [/^(add|mul|bias)/, 'elementwise'],
  [/^(cross_entropy|softmax|sum)/, 'softmax/loss'],
  [/^embedding/, 'embedding'],
  [/^(sgd|adam|adamw|grad_norm2)/, 'optimizer'],
];

export function opClass(spanName: string): string {
  for (const [re, c] of CLASSES) if (re.test(spanName)) return c;
  return 'other';
}
