# idlegrad's coordinator image. Two stages:
#  - build: the whole dev install, then `npm pack`, whose prepack builds the web app (dist/web),
#    the reward contracts (dist/contracts) and the coordinator compiled to JavaScript
#    (dist/server: coordinator/deploy/build-server.mjs), and writes npm-shrinkwrap.json from the
#    lockfile;
#  - runtime: that package alone, installed with `npm ci --omit=dev` (production dependencies
#    only: no tsx, esbuild or Vite, no solc run at start), running `node dist/server/start.js`
#    (what the package's `npm start` runs) as an unprivileged user. node is PID 1, so `docker
#    stop`'s SIGTERM reaches the coordinator itself, which drains (coordinator/ops/shutdown.ts).
# The ledger and the data directory's keys live in /data (a volume); see compose.yaml and the
# README's "Run it for real volunteers".
ARG NODE_VERSION=22

FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
COPY coordinator/deploy/prune-install.mjs coordinator/deploy/prune-install.mjs
RUN npm ci --no-audit --no-fund
# WalletConnect is optional (package.json optionalPackages): --build-arg WITH_WALLETCONNECT=1
# builds its page bundle in; without it the page says WalletConnect is not installed.
ARG WITH_WALLETCONNECT=0
RUN if [ "$WITH_WALLETCONNECT" = 1 ]; then \
      npm install --no-save --no-audit --no-fund "@walletconnect/ethereum-provider@$(node -p "require('./package.json').optionalPackages['@walletconnect/ethereum-provider']")"; \
    fi
COPY . .
RUN npm pack --pack-destination /pkg && tar -xzf /pkg/idlegrad-*.tgz -C /pkg

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=8080 \
    IDLEGRAD_DATA_DIR=/data
WORKDIR /app
COPY --from=build /pkg/package/ ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force \
 && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8080
# Healthy when ready (README "Operations"): /readyz checks the ledger and the chain answer and that
# no drain is under way; /api/run only said the process served HTTP.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "--enable-source-maps", "dist/server/start.js"]
