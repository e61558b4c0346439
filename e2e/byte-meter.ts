// Counts every byte a page sends and receives at its transports, for e2e/swarm.ts's per-round
// figures (issue 16 item 6): WebSocket messages (the coordinator's protocol and PeerJS
// signalling), HTTP (request bodies out; in, each fetched response's body from Resource Timing,
// encodedBodySize, and its header bytes as HTTP/1.1 carried them, rebuilt from the Response's
// status and headers: Resource Timing's transferSize adds a constant 300 bytes for the headers
// whatever they were, so it cannot show a header trimmed) and WebRTC data-channel messages. Installed with Playwright's addInitScript, so it
// wraps the constructors before any page script runs; the function is serialized into the
// page, so it closes over nothing. Payload bytes: TLS, DTLS/SCTP, ICE and HTTP request
// headers are not counted (a few hundred bytes per request or round on loopback).
//
// It also notes, from the coordinator's WebSocket messages the page receives, each round's
// cohort (for the mean cohort size) and how many frames reached the page through the relay,
// and counts the page's WebRTC dials and peer connections (links kept across rounds: issue 16).

export interface PageBytes {
  wsIn: number;
  wsOut: number;
  httpIn: number;
  httpOut: number;
  dcIn: number;
  dcOut: number;
  /** Bytes of published global updates and snapshots downloaded, headers included (part of httpIn). */
  updateIn: number;
  /** Their bodies alone (encodedBodySize). */
  updateBodyIn: number;
  /** Spot-check evidence uploaded (part of httpOut): the frame, each residual the validator asked for (dense float32) or its digest. */
  evidenceOut: number;
  /** (round, cohort id, members) of each round message received. */
  cohorts: { round: number; cohort: number; members: number }[];
  /** Frames received through the coordinator's relay. */
  relayedFrames: number;
  /** Data channels this page opened (PeerJS's dialling side creates the channel): its dials. */
  dials: number;
  /** RTCPeerConnections created, dialled or answered: each is one ICE and DTLS handshake. */
  peerConnections: number;
}

export const PAGE_BYTES_GLOBAL = '__idlegradBytes';

/** Runs in the page (serialized by addInitScript): installs the counters on window.__idlegradBytes. */
export function installByteMeter(): void {
  const w = window as unknown as Record<string, unknown> & Window & typeof globalThis;
  if (w.__idlegradBytes) return;
  const c: PageBytes = {
    wsIn: 0,
    wsOut: 0,
    httpIn: 0,
    httpOut: 0,
    dcIn: 0,
    dcOut: 0,
    updateIn: 0,
    updateBodyIn: 0,
    evidenceOut: 0,
    cohorts: [],
    relayedFrames: 0,
    dials: 0,
    peerConnections: 0,
  };
  Object.defineProperty(w, '__idlegradBytes', { value: c, enumerable: false });
  const enc = new TextEncoder();
  const size = (d: unknown): number =>
    typeof d === 'string'
      ? enc.encode(d).byteLength
      : d instanceof Blob
        ? d.size
        : d instanceof ArrayBuffer
          ? d.byteLength
          : ArrayBuffer.isView(d)
            ? d.byteLength
            : d instanceof URLSearchParams
              ? enc.encode(d.toString()).byteLength
              : 0;
  const noteServerMessage = (d: unknown) => {
    // The one binary server message is a relayed frame (shared/wire/relay.ts, kind byte 2).
    if (d instanceof ArrayBuffer) return void (d.byteLength > 0 && new Uint8Array(d)[0] === 2 && c.relayedFrames++);
    if (typeof d !== 'string' || d.length > 1 << 20) return;
    try {
      const m = JSON.parse(d) as { type?: string; round?: number; cohort?: { id?: number; members?: unknown[] } };
      if (m.type === 'round' && typeof m.round === 'number' && m.cohort && Array.isArray(m.cohort.members))
        c.cohorts.push({ round: m.round, cohort: Number(m.cohort.id), members: m.cohort.members.length });
      else if (m.type === 'relayed-frame') c.relayedFrames++;
    } catch {
      // not JSON (PeerJS frames are JSON too; anything else is counted, not parsed)
    }
  };

  const NativeWebSocket = w.WebSocket;
  class MeteredWebSocket extends NativeWebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('message', (e) => {
        c.wsIn += size(e.data);
        noteServerMessage(e.data);
      });
    }
    override send(data: string | ArrayBufferLike | Blob | ArrayBufferView): void {
      c.wsOut += size(data);
      super.send(data);
    }
  }
  w.WebSocket = MeteredWebSocket;

  // By response URL: the header bytes of each fetched response not yet matched to its Resource
  // Timing entry (which comes when the body has arrived).
  const headerBytes = new Map<string, number[]>();
  const nativeFetch = w.fetch.bind(w);
  w.fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    c.httpOut += size(init?.body);
    if (/\/evidence\//.test(String(input instanceof Request ? input.url : input))) c.evidenceOut += size(init?.body);
    return nativeFetch(input, init).then((res) => {
      // Status line, `name: value` CRLF each, the blank line (the Headers object joins repeats with ", ").
      let n = enc.encode(`HTTP/1.1 ${res.status} ${res.statusText}\r\n\r\n`).byteLength;
      res.headers.forEach((v, k) => (n += enc.encode(`${k}: ${v}\r\n`).byteLength));
      headerBytes.set(res.url, [...(headerBytes.get(res.url) ?? []), n]);
      return res;
    });
  };
  // A fetch's body (encodedBodySize) and its measured header bytes; anything else (no fetch of
  // ours) transferSize; nothing for a response from the cache (transferSize 0).
  new PerformanceObserver((list) => {
    for (const e of list.getEntries() as PerformanceResourceTiming[]) {
      const headers = e.initiatorType === 'fetch' ? headerBytes.get(e.name)?.shift() : undefined;
      const fromCache = e.transferSize === 0;
      const bytes = fromCache ? 0 : headers === undefined ? e.transferSize : e.encodedBodySize + headers;
      c.httpIn += bytes;
      if (/\/api\/runs\/\d+\/(updates|snapshot)/.test(e.name)) {
        c.updateIn += bytes;
        c.updateBodyIn += fromCache ? 0 : e.encodedBodySize;
      }
    }
  }).observe({ type: 'resource', buffered: true });

  const meterChannel = (ch: RTCDataChannel) => {
    ch.addEventListener('message', (e) => (c.dcIn += size(e.data)));
    const send = ch.send.bind(ch) as (d: unknown) => void;
    ch.send = ((d: unknown) => {
      c.dcOut += size(d);
      send(d);
    }) as RTCDataChannel['send'];
  };
  const NativePeerConnection = w.RTCPeerConnection;
  if (NativePeerConnection) {
    class MeteredPeerConnection extends NativePeerConnection {
      constructor(config?: RTCConfiguration) {
        super(config);
        c.peerConnections++;
        this.addEventListener('datachannel', (e) => meterChannel(e.channel));
      }
      override createDataChannel(label: string, init?: RTCDataChannelInit): RTCDataChannel {
        c.dials++;
        const ch = super.createDataChannel(label, init);
        meterChannel(ch);
        return ch;
      }
    }
    w.RTCPeerConnection = MeteredPeerConnection;
  }
}

/**
 * Runs in the page (serialized by addInitScript, after installByteMeter): every RTCPeerConnection
 * gathers no candidate (relay-only ICE with no TURN server), so no link of this page ever connects
 * and its exchange fails as behind a NAT WebRTC cannot cross. Test-only (e2e/swarm.ts noWebRtc).
 */
export function blockWebRtc(): void {
  const w = window as unknown as { RTCPeerConnection?: typeof RTCPeerConnection };
  const Native = w.RTCPeerConnection;
  if (!Native) return;
  w.RTCPeerConnection = class BlockedPeerConnection extends Native {
    constructor(config?: RTCConfiguration) {
      super({ ...config, iceServers: [], iceTransportPolicy: 'relay' });
    }
    override setConfiguration(config?: RTCConfiguration): void {
      super.setConfiguration({ ...config, iceServers: [], iceTransportPolicy: 'relay' });
    }
  };
}
