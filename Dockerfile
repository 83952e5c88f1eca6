# syntax=docker/dockerfile:1
# Ferry runs its TypeScript sources directly on Node 24 (type stripping): no build step to ship.
# .ci/image-steps runs these same steps without Docker, so CI proves the recipe.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production \
    PORT=3000 \
    FERRY_HOST=0.0.0.0 \
    FERRY_DATA_DIR=/data \
    FERRY_PLANS=/app/plans
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY examples ./examples
RUN mkdir -p /data /app/plans && chown node:node /data
USER node
EXPOSE 3000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# As `npm start`: PGlite's WebAssembly compiled by Liftoff only (V8's optimizing recompile of it holds
# about half a gigabyte for seconds), and V8 sized for a bot (a young generation of 8 MB, not 64; a
# heap that grows less eagerly): docs/benchmarks.md measures both.
CMD ["node", "--liftoff-only", "--optimize-for-size", "--max-semi-space-size=4", "src/main.ts"]
