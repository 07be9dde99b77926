# syntax=docker/dockerfile:1
# kube9-operator image: one tag for linux/amd64 and linux/arm64 (an OCI image
# index), built from this one file:
#
#   docker buildx build --platform linux/amd64,linux/arm64 -t kube9/kube9-operator:0.1.0 .
#
# Three stages:
#   build       on the build machine's own platform ($BUILDPLATFORM): npm ci,
#               tsc, esbuild. The bundle is JavaScript, the same for every
#               architecture, so it is built once per build machine, never
#               under emulation.
#   code-cache  on the target platform, from the runtime base: warms V8's code
#               cache for the bundle with the target's own Node (for arm64 on
#               an amd64 machine: under qemu-user emulation, about 10 s).
#   (final)     the runtime base, a distroless Node image: Node, glibc,
#               libstdc++, the CA bundle and tzdata; no shell, no package
#               manager, no npm. Plus dist/ and package.json.
# Only two things differ between the architectures: the Node binary (of the
# runtime base) and the code cache. The bundle is byte for byte the same.
#
# Built here by buildah, not docker: no Docker engine runs where this project
# is developed, and no registry can be reached. test/node/images.sh builds this
# file unchanged with `buildah bud --platform`, on local STAND-INS for the two
# base images made from Debian's packages (see the README, "The images"), and
# the end-to-end tests run the image as the chart's pod on a real worker node,
# the arm64 one under qemu (test/real-pod.e2e-spec.ts, test/arm64-pod.e2e-spec.ts).
# `--platform=$TARGETPLATFORM` on the target's stages is what every builder
# does anyway; it is spelled out for buildah 1.28 (Debian 12), whose
# FROM --platform=$BUILDPLATFORM otherwise sticks to the stages after it.
# What this machine needs to reach the npm registry (a CA bundle, an npmrc) is
# mounted into the build stage's RUN steps at build time, never written here.

# The build stage's image: any Node 22 with npm (and a shell, for npm's scripts).
ARG NODE_BUILD_IMAGE=node:22-bookworm-slim
# The runtime base: distroless Node 22 (Debian 12), published for both
# architectures under one tag. Its Node is at /nodejs/bin/node, its ENTRYPOINT.
# The code cache is warmed with this very Node, in the code-cache stage.
ARG NODE_RUNTIME_IMAGE=gcr.io/distroless/nodejs22-debian12

# --- build: compile and bundle, once, on the build platform -------------------
FROM --platform=$BUILDPLATFORM ${NODE_BUILD_IMAGE} AS build
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
# tsc into dist/tsc, then esbuild into dist/main.js (the operator with all its
# dependencies) and dist/code-cache-loader.js (the entry point, which loads it).
# The cache directory is made here, where there is a shell, for the code-cache
# stage to fill as uid 1000.
RUN npm run build && mkdir dist/.compile-cache

# --- code-cache: V8's code cache, per target architecture ---------------------
# Pre-warms the operator's code cache for dist/main.js (see
# src/code-cache-loader.ts), so that a starting pod neither parses nor compiles
# the modules of the bundle.
# It runs the runtime base's own Node for the target (the cache is only valid
# for the Node and V8 flags that wrote it), as uid 1000, the final stage's user,
# and with the CMD's Node flags. warm-code-cache.js runs the operator with
# PORT=0, which fails the configuration check right after every module of the
# bundle has run; code-cache-loader.js writes the cache on that exit, and the
# script fails the build if none was written (exec form: this base has no
# shell).
# The cache file is named by the bundle and by Node's version, architecture and
# V8's flags (dist/.compile-cache/main-v22.x.y-<arch>-<flags>-<bundle>). A
# cache whose V8 flags differ (e.g. NODE_OPTIONS=--max-old-space-size) is not
# used: the operator then starts cold and writes its own cache in /tmp.
FROM --platform=$TARGETPLATFORM ${NODE_RUNTIME_IMAGE} AS code-cache
WORKDIR /app
# Owned by uid 1000 here, so that it can write the cache (this stage is not shipped).
COPY --from=build --chown=1000:1000 /app/dist ./dist
COPY package.json ./
COPY scripts/warm-code-cache.js ./scripts/
USER 1000:1000
RUN ["/nodejs/bin/node", "scripts/warm-code-cache.js", "--no-opt", "--max-old-space-size=64", "dist/code-cache-loader.js"]

# --- runtime -------------------------------------------------------------------
FROM --platform=$TARGETPLATFORM ${NODE_RUNTIME_IMAGE}
ENV NODE_ENV=production \
    PORT=8080
WORKDIR /app
# No node_modules: esbuild bundled every dependency into dist/main.js, and
# the packages it leaves external are ones Nest loads only if present (see
# scripts/bundle.js); dist/lazy holds data files that the bundle requires only
# when they are used. The source maps are kept for stack traces. package.json is
# where the operator reads its version from.
# Owned by root and read-only to the operator: it runs with a read-only root
# filesystem and writes only to /tmp (an emptyDir in the chart). The warmed
# code cache is read there as is; the operator writes nothing to it on a hit.
COPY --from=build /app/dist/code-cache-loader.js /app/dist/code-cache-loader.js.map /app/dist/main.js /app/dist/main.js.map ./dist/
COPY --from=code-cache --chown=0:0 /app/dist/.compile-cache ./dist/.compile-cache
COPY --from=build /app/dist/lazy ./dist/lazy
# The npm packages bundled into dist/, as an npm lockfile written by the build
# from esbuild's metafile (scripts/bundle.js): what an SBOM generator reads.
COPY --from=build /app/dist/sbom/package-lock.json ./dist/sbom/
COPY package.json ./
USER 1000:1000
EXPOSE 8080
# node is PID 1 and handles SIGTERM itself (graceful shutdown); no npm wrapper,
# no HEALTHCHECK (Kubernetes probes /healthz and /readyz over HTTP: nothing in
# this image is ever exec'd but node).
# The whole command is the CMD, with the base's ENTRYPOINT (/nodejs/bin/node)
# cleared: what runs is one line to read, and a pod's `command` replaces it whole.
# dist/code-cache-loader.js loads the operator (dist/main.js) with its code cache.
# --no-opt: V8's optimising compiler (TurboFan) off. The operator answers a few
# requests a minute and writes one ConfigMap an interval: at idle it holds
# 8 MiB less (92.7 -> 84.7 MiB) and starts sooner (first write 476 -> 394 ms),
# and it still serves 1,262 status requests a second (2,036 with it on); see
# README, "Footprint". The code-cache stage runs with the same flags: the code
# cache is only used under the V8 flags that wrote it.
ENTRYPOINT []
# --max-old-space-size=64 (MB): V8 collects well before the container's memory
# limit (the chart's default is 192Mi). Measured with it on a real node, the
# working set peaked at 52 MiB in a 60 s burst of status requests from 32
# clients (free), and at 85 MiB in a pro soak with key rotations; V8's heap in
# use after a full GC is about 29 MB. Without it Node sizes the heap from the
# cgroup's limit: 259 MB for a 128Mi or 192Mi cgroup. See bench/memory-limit.ts.
CMD ["/nodejs/bin/node", "--no-opt", "--max-old-space-size=64", "dist/code-cache-loader.js"]
