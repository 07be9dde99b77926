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

# Both stages must use the very same Node binary: the code cache warmed in
# the build stage is only valid for the Node version that wrote it.
ARG NODE_IMAGE=node:22-bookworm-slim

# --- build: compile, bundle, warm the code cache -------------------------------
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
# Pre-warm the operator's code cache for dist/bootstrap.js (see src/main.ts), so
# a starting pod neither parses nor compiles the modules of the bundle. PORT=0
# fails the configuration check right after every module of the bundle has run,
# and main.js writes the cache on that exit (the `|| true`); `ls` then fails the
# build if no cache was written. It is warmed as uid 1000, the user of the final
# stage, so that nothing in it depends on running as root, and with the CMD's
# Node flags.
# The cache file is named by the bundle and by V8's version and flags
# (dist/.compile-cache/bootstrap-v22.x.y-x64-<flags>-<bundle>). A cache whose V8
# flags differ (e.g. NODE_OPTIONS=--max-old-space-size) is not used: the
# operator then starts cold and writes its own cache in /tmp (see src/main.ts).
RUN mkdir dist/.compile-cache && chown 1000:1000 dist/.compile-cache
USER 1000:1000
RUN PORT=0 node --no-opt --max-old-space-size=64 dist/main.js || true; ls dist/.compile-cache/bootstrap-* >/dev/null
USER root
# Make the cache root's and world-readable, so the operator can read it but not
# change it, whatever COPY --from keeps.
RUN chown -R root:root dist/.compile-cache && chmod -R a+rX,go-w dist/.compile-cache

# --- runtime -------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# No node_modules: esbuild bundled every dependency into dist/bootstrap.js, and
# the packages it leaves external are ones Nest loads only if present (see
# scripts/bundle.js); dist/lazy holds data files that the bundle requires only
# when they are used. The source maps are kept for stack traces. package.json is
# where the operator reads its version from.
# Owned by root and read-only to the operator: it runs with a read-only root
# filesystem and writes only to /tmp (an emptyDir in the chart). The warmed
# code cache is read there as is; the operator writes nothing to it on a hit.
COPY --from=build /app/dist/main.js /app/dist/main.js.map /app/dist/bootstrap.js /app/dist/bootstrap.js.map ./dist/
COPY --from=build /app/dist/.compile-cache ./dist/.compile-cache
COPY --from=build /app/dist/lazy ./dist/lazy
COPY package.json ./
USER 1000:1000
EXPOSE 8080
# node is PID 1 and handles SIGTERM itself (graceful shutdown); no npm wrapper,
# no HEALTHCHECK (Kubernetes probes /healthz and /readyz).
# --no-opt: V8's optimising compiler (TurboFan) off. The operator answers a few
# requests a minute and writes one ConfigMap an interval: at idle it holds
# 8 MiB less (92.7 -> 84.7 MiB) and starts sooner (first write 476 -> 394 ms),
# and it still serves 1,262 status requests a second (2,036 with it on); see
# README, "Footprint". The warm-up above runs with the same flags: the code
# cache is only used under the V8 flags that wrote it.
# --max-old-space-size=64 (MB): V8 collects well before the container's memory
# limit (the chart's default is 192Mi). Measured with it on a real node, the
# working set peaked at 52 MiB in a 60 s burst of status requests from 32
# clients (free), and at 85 MiB in a pro soak with key rotations; V8's heap in
# use after a full GC is about 29 MB. Without it Node sizes the heap from the
# cgroup's limit: 259 MB for a 128Mi or 192Mi cgroup. See bench/memory-limit.ts.
CMD ["node", "--no-opt", "--max-old-space-size=64", "dist/main.js"]
