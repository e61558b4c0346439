// The coordinator's edge: the HTTP API, the WebSocket message loop and the PeerServer
// (server.ts), and the lead's routes (lead.ts).
export { createApiServer, type ApiServer, type ServerDeps } from './server.ts';
export { leadRoutes, resolveLeadToken, requireLead, parseRunRequest, BadRequest, RunConflict, LEAD_TOKEN_FILE, type RunControl } from './lead.ts';
