// Operations: structured logs with secrets redacted (logger.ts), Prometheus metrics counted where
// things happen (metrics.ts), /healthz, /readyz and /metrics (health.ts), WebSocket heartbeats
// (heartbeat.ts), event-loop blocks (loop-blocks.ts) and the graceful shutdown on SIGTERM (shutdown.ts).
export {
  createLogger,
  lineLogger,
  captureConsole,
  splitComponent,
  Redactor,
  REDACTED,
  LOG_LEVELS,
  type LogLevel,
  type LogFormat,
  type Logger,
} from './logger.ts';
export { OpsMetrics, sampleOf, type RoundPhase, type ReportOutcome, type LiveReadings } from './metrics.ts';
export { opsRoutes, readiness, rpcCheck, type ReadinessCheck, type Readiness, type Role } from './health.ts';
export { keepSocketsAlive } from './heartbeat.ts';
export { reportLoopBlocks, watchLoop, blocksByPhase, type LoopBlock, type PhaseSpan } from './loop-blocks.ts';
export { drain, CLOSE_GOING_AWAY, CLOSE_SERVICE_RESTART, type Drainable, type DrainResult } from './shutdown.ts';
