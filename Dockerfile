# syntax=docker/dockerfile:1
# kube9-operator image: built with the dev dependencies, shipped as the bundle
# only (dist/main.js and dist/bootstrap.js) plus package.json.
#
#   docker build -t kube9/kube9-operator:0.1.0 .
#
# Built here by buildah, not docker: no Docker engine runs where this project
# is developed, and no registry can be reached. test/node/images.sh builds this
# file unchanged with `buildah bud --pull=never`, on a local stand-in for
# node:22-bookworm-slim made from Debian's packages (see the README), and the
# end-to-end tests run the image as the chart's pod on a real worker node
# (test/real-pod.e2e-spec.ts). What this machine needs to reach the npm
# registry (a CA bundle, an npmrc) is mounted into the RUN steps at build time,
# never written here.

# Both stages must use the very same Node binary: the compile cache warmed in
# the build stage is only valid for the Node version that wrote it.
ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: compile, bundle, warm the compile cache ----------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs none of the install scripts in the tree
# (esbuild finds its binary in its optional platform package). The dev
# dependency `node` would download a second Node binary; its bin link is
# removed so npm scripts run the image's Node 22.
RUN npm ci --ignore-scripts --no-audit --no-fund && rm -f node_modules/.bin/node
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/bundle.js ./scripts/
COPY src ./src
# tsc into dist/tsc, then esbuild into dist/main.js (entry) and dist/bootstrap.js
# (the operator with all its dependencies).
RUN npm run build
# Pre-warm Node's compile cache for dist/bootstrap.js, so a starting pod skips
# most of the parsing of the bundle. PORT=0 fails the configuration check right
# after everything is loaded, and Node writes the cache on that exit (the
# `|| true`); `ls` then fails the build if no cache was written.
# Node keys the cache directory by its version, the V8 flags and the uid
# (dist/.compile-cache/v22.x.y-x64-<flags>-<uid>), so it is warmed as uid 1000,
# the user of the final stage. A cache warmed as root is not found by uid 1000;
# neither is one whose V8 flags differ (e.g. NODE_OPTIONS=--max-old-space-size):
# the operator then starts cold and caches in /tmp instead (see src/main.ts).
RUN mkdir dist/.compile-cache && chown 1000:1000 dist/.compile-cache
USER 1000:1000
RUN PORT=0 node dist/main.js || true; ls dist/.compile-cache/v*-1000/* >/dev/null
USER root
# Node writes the cache files 0600: make them root's and world-readable, so the
# operator can read them but not change them, whatever COPY --from keeps.
RUN chown -R root:root dist/.compile-cache && chmod -R a+rX,go-w dist/.compile-cache

# --- runtime -------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# No node_modules: esbuild bundled every dependency into dist/bootstrap.js, and
# the packages it leaves external are ones Nest loads only if present (see
# scripts/bundle.js). The source maps are kept for stack traces. package.json is
# where the operator reads its version from.
# Owned by root and read-only to the operator: it runs with a read-only root
# filesystem and writes only to /tmp (an emptyDir in the chart). The warmed
# compile cache is read there as is; Node writes nothing to it on a hit.
COPY --from=build /app/dist/main.js /app/dist/main.js.map /app/dist/bootstrap.js /app/dist/bootstrap.js.map ./dist/
COPY --from=build /app/dist/.compile-cache ./dist/.compile-cache
COPY package.json ./
USER 1000:1000
EXPOSE 8080
# node is PID 1 and handles SIGTERM itself (graceful shutdown); no npm wrapper,
# no HEALTHCHECK (Kubernetes probes /healthz and /readyz).
CMD ["node", "dist/main.js"]
