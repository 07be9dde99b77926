# syntax=docker/dockerfile:1
# kube9-operator image: built with the dev dependencies, shipped with the
# production ones and the compiled JavaScript only.
#
#   docker build -t kube9/kube9-operator:0.1.0 .

ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: compile TypeScript -------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the only install scripts in the tree belong to dev tools the
# compile does not use. The dev dependency `node` would download a second Node
# binary; its bin link is removed so npm scripts run the image's Node 22.
RUN npm ci --ignore-scripts --no-audit --no-fund && rm -f node_modules/.bin/node
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime dependencies only -------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

# --- runtime ---------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# Owned by root and read-only to the operator: it runs with a read-only root
# filesystem and writes only to /tmp (an emptyDir in the chart).
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
USER 1000:1000
EXPOSE 8080
# node is PID 1 and handles SIGTERM itself (graceful shutdown); no npm wrapper,
# no HEALTHCHECK (Kubernetes probes /healthz and /readyz).
CMD ["node", "dist/main.js"]
