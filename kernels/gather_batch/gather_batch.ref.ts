// CPU reference for the batch gather: shared/mlp.ts gatherBatch (x (rows, F) = bytes / 255, y (rows)).
export { gatherBatch as gatherBatchRef } from '../../shared/mlp.ts';
