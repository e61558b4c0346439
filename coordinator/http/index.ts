// The coordinator's edge: the HTTP API, the WebSocket message loop and the PeerServer
// (server.ts), and the lead's routes (lead.ts); the public surface's guards: security headers,
// connection and message limits per client address (behind trusted proxies: X-Forwarded-For), and the /rpc filter that forwards reads and claims only.
export { createApiServer, type ApiServer, type ServerDeps } from './server.ts';
export { leadRoutes, resolveLeadToken, requireLead, parseRunRequest, BadRequest, RunConflict, LEAD_TOKEN_FILE, type RunControl } from './lead.ts';
export { clientAddress, forwardedFor, trustedProxiesOf, type TrustedProxies } from './client-address.ts';
export { surfaceLimitsOf, DEFAULT_SURFACE_LIMITS, type SurfaceLimits } from './surface-limits.ts';
