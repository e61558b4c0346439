// Shipping the platform: the built web app and when to rebuild it (web-build.ts). Beside it,
// the scripts of package.json (start.ts: `npm start`; prepack.ts and build-contracts.ts:
// `npm run build` / `npm pack`; prune-install.mjs: the postinstall) and the Caddyfile of
// compose.yaml.
export { canBuildWeb, ensureWebBuild, webBuildIsCurrent, WALLETCONNECT_ABSENT, WEB_DIRS, type WebBuild } from './web-build.ts';
