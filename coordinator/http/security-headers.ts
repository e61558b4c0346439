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
//   dashboard cannot be framed by another site;
// - X-Content-Type-Options: nosniff and a referrer policy on every response.
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

/** The policy of the page at `path`: only the embed page may be framed, by any site. */
export function contentSecurityPolicy(path: string): string {
  return [...COMMON, isEmbed(path) ? 'frame-ancestors *' : "frame-ancestors 'none'"].join('; ');
}

const isEmbed = (path: string) => path === '/embed.html' || path === '/embed';

export function securityHeaders(req: Request, res: Response, next: NextFunction): void {
  res.setHeader('Content-Security-Policy', contentSecurityPolicy(req.path));
  if (!isEmbed(req.path)) res.setHeader('X-Frame-Options', 'DENY');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'strict-origin-when-cross-origin');
  next();
}
