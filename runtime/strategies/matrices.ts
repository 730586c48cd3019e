/**
 * Where the gradient matrices of a bucket are, for PowerSGD: every parameter tensor of
 * two or more dimensions, viewed as (shape[0], rest) as PyTorch's hook does; vectors
 * (biases, norms) are left to travel uncompressed.
 */
import type { Trainer } from '../engine';
import type { Bucket } from './buckets';
import type { MatrixPlanner, MatrixView } from './powerSgd';

export function matrixPlanner(trainer: Pick<Trainer, 'paramTensors'>): MatrixPlanner {
  return (bucket: Bucket): MatrixView[] => {
    const out: MatrixView[] = [];
    for (const t of trainer.paramTensors) {
      if (t.shape.length < 2 || !bucket.layers.includes(t.layerIndex)) continue;
      const rows = t.shape[0];
      const cols = t.shape.slice(1).reduce((a, b) => a * b, 1);
      out.push({ offset: t.offset - bucket.offset, rows, cols });
    }
    return out;
  };
}
