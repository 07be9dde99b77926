// Bundles the compiled operator (tsc output in dist/tsc, which carries the
// decorator metadata Nest's injection needs) into one file, dist/main.js.
// Why: @kubernetes/client-node's index loads every API group and all ~2,700
// models; bundled with tree-shaking, start-up and resident memory drop by
// about a half (see bench/operator-footprint.ts and the README).
// Packages Nest and Terminus load only if present stay external.
const esbuild = require('esbuild');
const path = require('node:path');

const root = path.join(__dirname, '..');
const optional = [
  '@nestjs/microservices', '@nestjs/microservices/*', '@nestjs/websockets', '@nestjs/websockets/*',
  '@nestjs/platform-fastify', '@nestjs/typeorm', '@nestjs/mongoose', '@nestjs/sequelize', '@mikro-orm/*',
  '@grpc/*', '@prisma/client', 'typeorm', 'mongoose', 'sequelize', 'class-transformer/storage',
  '@fastify/*', 'cache-manager', 'ioredis', 'kafkajs', 'mqtt', 'nats', 'amqplib', 'amqp-connection-manager',
];

esbuild
  .build({
    entryPoints: [path.join(root, 'dist', 'tsc', 'main.js')],
    outfile: path.join(root, 'dist', 'main.js'),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    keepNames: true,
    sourcemap: true,
    external: optional,
    logLevel: 'warning',
  })
  .catch(() => process.exit(1));
