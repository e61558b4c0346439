// ICE servers as the page's RTCPeerConnection takes them (the RTCIceServer shape), and the
// grant the coordinator sends in `welcome` and renews with `ice` before TURN credentials
// expire. One parser serves the WebSocket edge and IDLEGRAD_ICE_SERVERS (coordinator/ice.ts).
import { arrayOf, fail, nonNegative, nullable, obj, optional, str, type Parser } from './parse.ts';

export interface IceServer {
  /** stun:, stuns:, turn: or turns: URLs (RFC 7064/7065). */
  urls: string | string[];
  /** Required with a turn:/turns: URL. */
  username?: string;
  credential?: string;
}

/** What a page uses for every RTCPeerConnection until the next grant. */
export interface IceGrant {
  servers: IceServer[];
  /** When the TURN credentials in `servers` stop working (server ms); null: nothing expires. */
  expiresAt: number | null;
}

const ICE_URL = /^(stuns?|turns?):[^\s]+$/;
const ICE_KEYS = ['urls', 'username', 'credential'];
const iceUrl: Parser<string> = (v, path) =>
  typeof v === 'string' && v.length <= 512 && ICE_URL.test(v) ? v : fail(path, 'a stun:, stuns:, turn: or turns: URL', v);

export const parseIceServer: Parser<IceServer> = (v, path) => {
  const o = obj(v, path);
  for (const k of Object.keys(o)) if (!ICE_KEYS.includes(k)) fail(`${path}.${k}`, `a key among ${ICE_KEYS.join(', ')}`, k);
  const urls = Array.isArray(o.urls) ? arrayOf(iceUrl, 16)(o.urls, `${path}.urls`) : iceUrl(o.urls, `${path}.urls`);
  if (Array.isArray(urls) && urls.length === 0) fail(`${path}.urls`, 'at least one URL', o.urls);
  const username = optional(str(512))(o.username, `${path}.username`);
  const credential = optional(str(512))(o.credential, `${path}.credential`);
  // Browsers refuse a TURN server without both (InvalidAccessError): say so here, not in every page.
  const turn = (Array.isArray(urls) ? urls : [urls]).some((u) => u.startsWith('turn'));
  if (turn && username === undefined) fail(`${path}.username`, 'a username for a turn:/turns: URL', undefined);
  if (turn && credential === undefined) fail(`${path}.credential`, 'a credential for a turn:/turns: URL', undefined);
  return { urls, ...(username !== undefined ? { username } : {}), ...(credential !== undefined ? { credential } : {}) };
};

export const parseIceServers: Parser<IceServer[]> = arrayOf(parseIceServer, 32);

export const parseIceGrant: Parser<IceGrant> = (v, path) => {
  const o = obj(v, path);
  return { servers: parseIceServers(o.servers, `${path}.servers`), expiresAt: nullable(nonNegative)(o.expiresAt, `${path}.expiresAt`) };
};
