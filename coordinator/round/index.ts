// The round: the engine that opens rounds, takes signed reports and uploaded aggregates and
// commits them (DESIGN.md steps 1 and 5–7), the report-signature recovery it checks them
// with, and the held-out evaluation thread it scores each commit on.
export { RoundEngine, type Session, type EngineEvents, type RoundJournal, type RoundOpening, type JournaledReport, type ResumedRound } from './engine.ts';
export { ContributionSigners, RecoveryThread } from './report-signature.ts';
export { creditWeiOf } from './decide.ts';
export { UploadThread } from './upload-thread.ts';
export { type CommitPhases } from './commit-phases.ts';
