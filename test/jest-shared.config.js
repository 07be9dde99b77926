const path = require('node:path');
const fs = require('node:fs');

const swcrc = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '.swcrc'), 'utf8'));

module.exports = {
  rootDir: path.join(__dirname, '..'),
  // Node's environment plus Symbol.dispose in the sandbox (see the file).
  testEnvironment: '<rootDir>/test/support/jest-node-environment.js',
  moduleFileExtensions: ['ts', 'js', 'mjs', 'cjs', 'json'],
  transform: {
    '^.+\\.(t|j|mj)s$': ['@swc/jest', { ...swcrc, swcrc: false }],
  },
  // Transform every ES-module-only package; plain CommonJS passes through swc unchanged.
  transformIgnorePatterns: [],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', '/dist-test/', '/.cache/'],
  modulePathIgnorePatterns: ['<rootDir>/dist/', '<rootDir>/dist-test/', '<rootDir>/.cache/'],
  setupFiles: ['reflect-metadata'],
};
