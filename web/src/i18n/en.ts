// English: the source of truth. Every key here must exist in every other language with the
// same type (Messages below); a string is shown as is, a function takes typed parameters for
// interpolation and plurals (plural.ts). The text is what the pages showed before the catalog.
import type { ClientState } from '../client/volunteer.ts';
import { plural } from './plural.ts';

export const en = {
  app: {
    tagline: 'Lend an idle GPU to train a shared neural network — SETI@home for neural nets.',
    install: 'Install idlegrad',
    installIos: 'To install: tap Share, then “Add to Home Screen”.',
    dashboard: 'Dashboard',
    updateReady: 'A new version of idlegrad is ready.',
    reloadToUpdate: 'Reload to update',
    later: 'Later',
    offlineTitle: 'You are offline.',
    offlineBody: 'idlegrad opened from its offline copy. Training needs the coordinator: rounds, models and credit come back when the network does.',
    outboxWaiting: (p: { count: number }) =>
      plural('en', p.count, { one: '# signed report waits in this browser and is sent then.', other: '# signed reports wait in this browser and are sent then.' }),
    loading: 'Loading…',
    couldNotStart: (p: { reason: string }) => `idlegrad could not start: ${p.reason}`,
  },
  consent: {
    heading: 'Before anything runs',
    intro: "idlegrad trains a shared neural network (an MNIST classifier) on volunteers' GPUs. If you opt in:",
    gpuBefore: 'this tab uses your GPU through WebGPU ',
    gpuStrong: 'only while you press Start',
    gpuAfter: ', and stops when you press Stop or close the tab;',
    exchange: 'it exchanges small compressed model updates with a few other volunteers over WebRTC;',
    deviceKey: 'a device key is created and kept in this browser to sign your work; credit accrues to it and can be claimed as tokens;',
    lasts: (p: { lasts: string }) => `your agreement lasts ${p.lasts}, then this page asks again; you can revoke it at any time in one click.`,
    nothingYet: 'Nothing has run yet: no GPU work, no connection to the coordinator.',
    compact: (p: { lasts: string }) => `Lend this tab's GPU to train a shared model. Nothing runs until you agree and press Start. Your agreement lasts ${p.lasts}.`,
    lasts30Days: '30 days',
    lasts24Hours: '24 hours',
    agree: 'I agree — let this tab use my GPU',
  },
  state: {
    loading: 'loading',
    'needs-consent': 'waiting for consent',
    ready: 'ready',
    starting: 'starting…',
    running: 'computing',
    stopping: 'stopping…',
    stopped: 'stopped',
    error: 'error',
  } satisfies Record<ClientState, string>,
  controls: {
    stop: 'Stop',
    start: 'Start',
    otherTab: 'Another tab of this browser is already training. Only one trainer runs per device: stop it there (or close it), then press Start here.',
    phase: 'Phase',
    coordinator: 'Coordinator',
    gpu: 'GPU',
    cpuNoWebgpu: 'CPU (no WebGPU)',
    probing: 'looking for a WebGPU adapter…',
    webgpuUnavailable: 'WebGPU unavailable in this browser',
    notUsedYet: 'not used until you press Start',
    deviceKey: 'Device key',
    measured: 'Measured',
    gpuBusy: (p: { percent: number; round: number }) => `GPU busy ${p.percent} % of round ${p.round}`,
    consent: 'Consent',
    until: (p: { when: string }) => `until ${p.when} ·`,
    revoke: 'Revoke consent',
  },
  training: {
    heading: 'Training',
    round: 'Round',
    runHint: (p: { id: number; name: string }) => `run ${p.id} · ${p.name}`,
    samplesPerSec: 'Samples / s',
    perRound: (p: { steps: number; batchSize: number }) => `${p.steps} steps × ${p.batchSize} per round`,
    localLoss: 'Local loss',
    lossHint: (p: { round: number }) => `round ${p.round}, before → after`,
    model: 'Model',
    atRound: (p: { round: number }) => `at round ${p.round}`,
    cohortPeers: 'Cohort peers',
    cohortHint: (p: { id: number; linked: number }) => `cohort ${p.id}, ${p.linked} linked`,
  },
};

/** The shape every language's catalog has: the same keys, strings where English has strings, functions of the same parameters where English has functions. */
export type Messages = typeof en;
