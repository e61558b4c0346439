// The coordinator's edge: the HTTP API, the WebSocket message loop and the PeerServer
// (server.ts), and the lead's routes (lead.ts); the public surface's guards: security headers,
// connection and message limits, and the /rpc filter that forwards reads and claims only.
export { createApiServer, type ApiServer, type ServerDeps } from './server.ts';
export { leadRoutes, resolveLeadToken, requireLead, parseRunRequest, BadRequest, RunConflict, LEAD_TOKEN_FILE, type RunControl } from './lead.ts';
export { surfaceLimitsOf, DEFAULT_SURFACE_LIMITS, type SurfaceLimits } from './surface-limits.ts';
