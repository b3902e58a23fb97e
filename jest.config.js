/** Jest: TypeScript tests under test/, compiled by ts-jest. */
module.exports = {
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: { types: ['node', 'jest'], esModuleInterop: true } }] },
  testEnvironment: 'node',
  testTimeout: 120000,
  verbose: true,
};
