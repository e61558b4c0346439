// The scale-out (issue 17 items 4–5), first slice: the run's rounds on NATS JetStream (reports
// de-duplicated by account and nonce, acknowledged only once stored; the open round read back
// after a takeover), the committer's lease with a fencing token on PostgreSQL, and a private
// nats-server for tests and one-machine setups. The default single-process coordinator uses
// none of it.
export { RoundBus, RoundBusError, type BusReport, type Published, type RoundBusOptions, type RoundOpening, type ReportMessage } from './round-bus.ts';
export { Committer, type CommitterOptions } from './committer.ts';
export { startNatsServer, natsServerBinary, natsServerSkip, type NatsServer } from './nats-server.ts';
export { leaderBus, type LeaderBus, type LeaderBusOptions } from './leader-bus.ts';
