// Security headers for everything the coordinator serves (the equivalent of helmet, written
// out so each page's policy can be read in one place):
// - a Content-Security-Policy per page: scripts only from this origin; 'wasm-unsafe-eval' for
//   WebAssembly (onnxruntime-web's playground on the dashboard, compiled wasm in dependencies),
//   never 'unsafe-eval'; workers from this origin or blob: (the training worker, onnxruntime);
//   connections to this origin, and ws/wss/https for the PeerJS WebSocket, WalletConnect's relay
//   and wallets' RPCs (WebRTC data channels are not subject to CSP); inline styles (Svelte's
//   style attributes, the noscript note);
// - frame-ancestors 'none' and X-Frame-Options DENY everywhere except /embed.html, the widget
//   partner sites frame (public/embed.js): the volunteer page (consent, Start, Claim) and the
//   dashboard cannot be framed by another site. A widget that names a registered partner
//   (`?partner=ID`, whose reports then credit that partner) may be framed only by the origins
//   the lead registered for it, so another site cannot collect a partner's credit by framing
//   its widget (a browser enforces it; a volunteer who signs reports by hand can name any
//   partner, which pays that partner for the volunteer's own work, never the volunteer); a
//   widget with no partner, or one nobody registered (credited to no partner), by any site;
// - X-Content-Type-Options: nosniff and a referrer policy on every response;
// - the API's responses (/api/…, /rpc: JSON and binary objects, never a page) carry the shortest
//   policy that forbids everything, `default-src 'none'; frame-ancestors 'none'`, instead of a
//   page's: a browser that navigates to one runs and frames nothing, and a global update (about
//   2 KiB a round, issue 16's one frame down) no longer carries a page's 400-byte policy.
import type { NextFunction, Request, Response } from 'express';

const COMMON = [
  "default-src 'self'",
  "script-src 'self' 'wasm-unsafe-eval'",
  "worker-src 'self' blob:",
  "connect-src 'self' ws: wss: https:",
  "img-src 'self' data: blob: https:",
  "style-src 'self' 'unsafe-inline'",
  "font-src 'self' data:",
  "manifest-src 'self'",
  // WalletConnect's verify iframe and modal.
  'frame-src https:',
  "object-src 'none'",
  "base-uri 'self'",
  "form-action 'self'",
];

/** A registered partner's allowed origins (e.g. `https://news.example`), or undefined for an id nobody registered. */
export type PartnerOrigins = (id: string) => readonly string[] | undefined;

/**
 * The policy of the page at `path`: only the embed page may be framed — for a registered
 * `partner`, by its origins alone (none registered: by nobody), else by any site.
 */
export function contentSecurityPolicy(path: string, partner?: string, originsOf?: PartnerOrigins): string {
  return [...COMMON, `frame-ancestors ${isEmbed(path) ? embedAncestors(partner, originsOf) : "'none'"}`].join('; ');
}

const isEmbed = (path: string) => path === '/embed.html' || path === '/embed';

/** The policy of everything that is not a page: nothing loads, nothing frames it. */
export const API_POLICY = "default-src 'none'; frame-ancestors 'none'";

const isApi = (path: string) => path.startsWith('/api/') || path === '/rpc';

/** A CSP source expression: scheme://host[:port], nothing a header could be split on. */
const ORIGIN = /^https?:\/\/[a-z0-9.-]+(:\d{1,5})?$/i;

function embedAncestors(partner: string | undefined, originsOf: PartnerOrigins | undefined): string {
  const origins = partner && originsOf ? originsOf(partner) : undefined;
  if (!origins) return '*';
  const valid = origins.filter((o) => ORIGIN.test(o));
  return valid.length ? valid.join(' ') : "'none'";
}

/** The headers middleware; `originsOf` answers from memory (coordinator/db/partners.ts). */
export function securityHeaders(originsOf?: PartnerOrigins) {
  return (req: Request, res: Response, next: NextFunction): void => {
    if (isApi(req.path)) {
      // frame-ancestors covers every browser that reads CSP; X-Frame-Options would repeat it.
      res.setHeader('Content-Security-Policy', API_POLICY);
    } else {
      const partner = typeof req.query.partner === 'string' ? req.query.partner : undefined;
      res.setHeader('Content-Security-Policy', contentSecurityPolicy(req.path, partner, originsOf));
      if (!isEmbed(req.path)) res.setHeader('X-Frame-Options', 'DENY');
    }
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('Referrer-Policy', 'strict-origin-when-cross-origin');
    next();
  };
}
