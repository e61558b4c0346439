// shared/wire: every format that crosses a boundary, each declared once with its parser —
// WebSocket messages (messages.ts), HTTP replies (http.ts), the update frame's header
// (frame.ts; the codec that fills it is shared/codec.ts), peer-to-peer messages (p2p.ts), the
// snapshot, dataset and evidence bodies, and the rejection codes the ledger stores (rejections.ts).
export {
  addr, arrayOf, bool, decimal, fail, hex32, nonNegative, nullable, num, obj, oneOf, optional, parseJson, recordOf, shape, sig, str, u32, wei,
  type Fields, type Parser,
} from './parse.ts';
export {
  CONTRIBUTION_STATES, DEVICE_KINDS, PARTNER_ID, RUN_STATUSES, TIMELINE_STEPS, VERIFICATION_STATES,
  parseAccountSummary, parseAggregateReply, parseChainInfo, parseClaimedReply, parseContributionDetail, parseDashboardState, parseErrorReply,
  parseFaucetReply, parseHealth, parseLeadSession, parseOkReply, parsePartnersReply, parseRewardProof, parseRunCreated, parseRunInfo, parseRunSpec,
  parseRunStatusChanged, parseTextUploaded,
  type AccountRow, type AccountSummary, type AdapterInfo, type AggregateReply, type ChainInfo, type CheckFigures, type ClaimedReply,
  type ContributionDetail, type ContributionRecord, type ContributionState, type DashboardState, type DeviceCredit, type DeviceKind, type EpochSummary,
  type ErrorReply, type FaucetReply, type FlaggedSummary, type Health, type LeaderRow, type LeadSession, type OkReply, type PartnersReply,
  type PartnerSummary, type RewardProof, type RoundOutcome, type RoundSummary, type RunCreated, type RunInfo, type RunInsights, type RunStatus,
  type RunStatusChanged, type TextUploaded, type TimelineEntry, type TimelineStep, type ValidatorStatus, type EpochPostingStatus, type VerificationState,
} from './http.ts';
export {
  PROTOCOL_VERSION, contributionFromJson, contributionToJson, delegationFromJson, delegationToJson, helloMessage, parseClientMessage, parseContribution,
  parseDelegation, parseServerMessage,
  type ClientMessage, type CohortSeat, type ContributionJson, type DelegationJson, type ServerMessage,
} from './messages.ts';
export {
  CHUNK_ENTRY, FRAME_HEADER, FRAME_MAGIC, FRAME_VERSION, FRAME_VERSIONS, FrameKind, INDEX_CODINGS, VALUE_BITS, readFrameHeader, writeFrameHeader,
  type FrameHeader, type IndexCoding, type ValueBits,
} from './frame.ts';
export {
  P2P_CHUNK, P2P_CHUNK_BYTES, FrameAssembler, cohortHandshakeMessage, encodeHandshake, parseHandshake, parsePeerMessage, splitFrame,
  type CohortHandshake, type PeerMessage,
} from './p2p.ts';
export { parseIceGrant, parseIceServer, parseIceServers, type IceGrant, type IceServer } from './ice.ts';
export { decodeSnapshot, encodeSnapshot, type Snapshot } from './snapshot.ts';
export { decodeDataset, encodeDataset, trainShape, type DatasetShape } from './dataset.ts';
export { decodeEvidence, encodeEvidence, residualCommitment, type Evidence } from './evidence.ts';
export { REJECTIONS, REJECTION_CODES, isRejectionCode, type Rejection, type RejectionCode } from './rejections.ts';
