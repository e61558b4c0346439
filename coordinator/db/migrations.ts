// Ledger schema, applied in order. Plain PostgreSQL: the same statements run on PGlite
// (embedded default) and on a PostgreSQL server (DATABASE_URL).

/** The codes the ledger wrote as "CODE: prose" before issue 13 (frozen: later codes never were). */
const OLD_CODES =
  'LEFT_OUT|NO_QUORUM|AGGREGATE_MISSING|COMBINE_REFUSED|STALE_ROUND|DUPLICATE|ROUND_ABORTED|WORK_MISMATCH|FRAME_MISMATCH|EVIDENCE_MISMATCH|EVIDENCE_WITHHELD|BAD_FRAME|CLAIM_MISMATCH';
const CODE_OF = `^(${OLD_CODES}):`;
const PROSE_OF = `^(?:${OLD_CODES}):(.*)$`;
export const MIGRATIONS: string[] = [
  `
  create table runs (
    id integer primary key,
    name text not null,
    spec jsonb not null,
    created_at timestamptz not null default now()
  );
  create table model_state (
    run_id integer primary key references runs(id),
    round integer not null,
    model_hash text not null,
    params bytea not null,
    momentum bytea not null
  );
  create table rounds (
    run_id integer not null references runs(id),
    round integer not null,
    model_hash text not null,
    committed_at bigint not null,
    held_out_accuracy double precision not null,
    held_out_loss double precision not null,
    train_loss double precision,
    contributions integer not null,
    samples integer not null,
    volunteers integer not null,
    update_bytes integer not null,
    primary key (run_id, round)
  );
  create table updates (
    run_id integer not null references runs(id),
    round integer not null,
    frame bytea not null,
    primary key (run_id, round)
  );
  create table contributions (
    id bigserial primary key,
    run_id integer not null references runs(id),
    round integer not null,
    cohort integer not null,
    account text not null,
    frame_hash text not null,
    aggregate_hash text not null,
    samples integer not null,
    steps integer not null,
    loss_before double precision not null,
    loss_after double precision not null,
    compute_ms integer not null,
    nonce numeric(20, 0) not null,
    expiry bigint not null,
    signature text not null,
    state text not null check (state in ('pending','accepted','verified','rejected','batched','claimable','claimed')),
    reason text,
    credit_wei numeric(78, 0) not null default 0,
    epoch integer,
    created_at timestamptz not null default now(),
    unique (account, nonce)
  );
  create index contributions_account on contributions (account);
  create index contributions_round on contributions (run_id, round);
  create table epochs (
    epoch integer primary key,
    run_id integer not null references runs(id),
    round integer not null,
    root text not null,
    model_hash text not null,
    total_wei numeric(78, 0) not null,
    accounts integer not null,
    tree jsonb not null,
    tx_hash text,
    posted_at timestamptz
  );
  create table claims (
    tx_hash text primary key,
    account text not null,
    cumulative_wei numeric(78, 0) not null,
    epoch integer not null,
    claimed_at timestamptz not null default now()
  );
  `,
  // Issue 5: wallet delegations, identities with reputation, spot-check verification.
  `
  create table delegations (
    device text not null,
    nonce numeric(20, 0) not null,
    wallet text not null,
    expiry bigint not null,
    signature text not null,
    created_at timestamptz not null default now(),
    primary key (device, nonce)
  );
  create table identities (
    account text primary key,
    checks_passed integer not null default 0,
    checks_failed integer not null default 0,
    reputation double precision not null default 0,
    last_failure text
  );
  alter table contributions add column beneficiary text;
  update contributions set beneficiary = account;
  alter table contributions alter column beneficiary set not null;
  alter table contributions add column residual_hash text;
  alter table contributions add column verification text check (verification in ('sampled','skipped','passed','failed','unverifiable'));
  alter table contributions add column verify_detail jsonb;
  -- Work accepted before the validator existed was never sampled: it stays payable.
  update contributions set verification = 'unverifiable' where state = 'accepted';
  create index contributions_beneficiary on contributions (beneficiary);
  `,
  // Issue 7: runs created and steered by the project lead (coordinator/http/lead.ts).
  `
  alter table runs add column status text not null default 'active' check (status in ('active','paused','stopped'));
  create table run_events (
    id bigserial primary key,
    run_id integer not null references runs(id),
    action text not null check (action in ('create','pause','resume','stop')),
    at timestamptz not null default now()
  );
  `,
  // Issue 6: the partner widget a contribution came through, and what trained it.
  `
  alter table contributions add column partner text;
  alter table contributions add column device_kind text check (device_kind in ('webgpu','cpu'));
  create index contributions_partner on contributions (partner) where partner is not null;
  `,
  // Issue 8: an account's newest rows read through an index, newest first (the account push
  // after each round under `npm run load`), instead of every row of the account sorted.
  `
  create index contributions_beneficiary_id on contributions (beneficiary, id desc);
  drop index contributions_beneficiary;
  create index contributions_delegated_id on contributions (account, id desc) where beneficiary <> account;
  `,
  // Issue 13: a refusal's code (shared/wire/rejections.ts) in a column of its own, the prose
  // beside it in the old column. Rows written as "CODE: prose" get their code and keep the prose
  // after it; a reason that does not start with one of the codes written until now keeps its
  // text and a null code. The same for an identity's last failure.
  `
  alter table contributions add column reason_code text;
  update contributions set reason_code = substring(reason from '${CODE_OF}'), reason = btrim(substring(reason from '${PROSE_OF}'))
    where reason ~ '${CODE_OF}';
  alter table identities add column last_failure_code text;
  update identities set last_failure_code = substring(last_failure from '${CODE_OF}'), last_failure = btrim(substring(last_failure from '${PROSE_OF}'))
    where last_failure ~ '${CODE_OF}';
  `,
  // Issue 14: the dev faucet's grants, at most one per account per reward epoch (coordinator/rewards/faucet.ts).
  `
  create table faucet_grants (
    account text not null,
    epoch integer not null,
    wei numeric not null,
    tx_hash text,
    granted_at timestamptz not null default now(),
    primary key (account, epoch)
  );
  `,
  // Issue 14: vesting. An accepted row's credit is payable only once the run has committed
  // round vests_round (null: vested at once, as every row written before this migration).
  `
  alter table contributions add column vests_round integer;
  `,
  // Issue 16: the coordinator's error-feedback residual of the compressed global update, kept
  // with the model so a restart publishes the same frames (null: zeros, as before this migration).
  `
  alter table model_state add column residual bytea;
  `,
  // Issue 14: vesting needs a later passed check (coordinator/verify/settings.ts): the newest
  // contribution id of this identity that passed its check (null: none yet).
  `
  alter table identities add column last_passed_id bigint;
  `,
  // Issue 14: every field a report's signature covers is kept, so an epoch's published file
  // (coordinator/rewards/epoch-file.ts) lets anyone check it: the signed frames root, and the
  // partner id inside the signature ('' for none). Rows written before stay readable with nulls
  // (published as unverifiable). The partner registry the lead controls: a report credits a
  // partner only if its signed id is registered here.
  `
  alter table contributions add column frames_root text;
  alter table contributions add column signed_partner text;
  create table partners (
    id text primary key,
    origins jsonb not null default '[]',
    created_at timestamptz not null default now()
  );
  `,
  // Issue 17: each beneficiary's credit already batched into an epoch, added to as epochs are
  // opened (Ledger.openEpoch), so that an epoch's leaves are this table plus the rows not yet
  // batched (read through the partial index) instead of a scan of every contribution ever
  // written. Batched credit is final (a clawback touches only unbatched rows).
  `
  create table epoch_balances (
    beneficiary text primary key,
    batched_wei numeric(78, 0) not null
  );
  insert into epoch_balances (beneficiary, batched_wei)
    select beneficiary, sum(credit_wei) from contributions where state in ('batched','claimable','claimed') group by beneficiary;
  create index contributions_unbatched on contributions (beneficiary) where state in ('accepted','verified');
  `,
  // Issue 17 item 3: the cross-cohort combine's groups of each committed round
  // (shared/robust-combine.ts CombineGroup: level, input frame hashes, output hash, samples), so an
  // auditor holding the cohort aggregates redoes any group and follows the hashes up to the round's
  // combined update. A table of its own: at 100,000 volunteers a round's record is ≈ 1.5 MB,
  // which the rounds listing must not drag along. No row: the round combined nothing.
  `
  create table round_combines (
    run_id integer not null references runs(id),
    round integer not null,
    groups jsonb not null,
    primary key (run_id, round)
  );
  `,
  // Issue 18: the model state in chunks of a few MiB (coordinator/db/model-chunks.ts), so a
  // 100 MiB tensor never crosses to the database as one value. model_state keeps the round and
  // hash; its bytea columns hold the state of ledgers written before until their next commit.
  `
  create table model_chunks (
    run_id integer not null references runs(id),
    part text not null check (part in ('params','momentum','residual')),
    idx integer not null,
    bytes bytea not null,
    primary key (run_id, part, idx)
  );
  alter table model_state alter column params drop not null;
  alter table model_state alter column momentum drop not null;
  `,
  // Issue 17: Ed25519 session keys (shared/session-key.ts). Each certificate a hello presented
  // (the device key's EIP-712 signature over run, device, key, expiry), once; a key belongs to one
  // certificate (so to one account). A report signed by a session key names its certificate's
  // digest; rows written before (signed by the device key itself) have none.
  `
  create table session_certificates (
    digest text primary key,
    run_id integer not null,
    device text not null,
    session_key text not null unique,
    expiry bigint not null,
    signature text not null
  );
  alter table contributions add column certificate text references session_certificates(digest);
  `,
  // Issue 17: the combine version each round's groups were combined with (shared/aggregate.ts
  // CombineVersion), read by an auditor before it redoes them. Rows written before have none:
  // version 1, the only combine there was.
  `
  alter table round_combines add column version integer;
  `,
  // Issue 17: an account's claims read through an index (its claimed total in every hello and
  // account push, a claimed row's transaction), where each read scanned every claim ever made.
  `
  create index claims_account on claims (account, epoch);
  `,
];
