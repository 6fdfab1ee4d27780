// Runs around every test file: a frame that breaks the wire contract fails the test that received it.
import { afterEach } from 'vitest';
import { takeViolations } from './conformance.js';

afterEach(() => {
  const violations = takeViolations();
  if (violations.length > 0) throw new Error(`frames that break asyncapi.yaml:\n${violations.slice(0, 5).join('\n')}`);
});
