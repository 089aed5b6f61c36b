import { describe, expect, it } from 'vitest';
import { CredflowError } from '../../src/errors.js';
import { MASK, SecretMasker } from '../../src/masking/index.js';
import { maskedError } from '../../src/use-cases/masked-error.js';
import { previewFailure } from '../../src/workflows/index.js';

const secret = 'hunter2-very-secret-password';

function failedRun(masker: SecretMasker) {
  return {
    ok: false as const,
    workflow: 'wf',
    error: new CredflowError('WORKFLOW_FAILED', 'workflow "wf" failed in step "fetch": Error: no luck', {
      details: { workflow: 'wf', step: 'fetch' },
    }),
    steps: [
      { name: 'fetch', durationMs: 1, logs: [{ level: 'info' as const, message: `got ${secret}` }], output: null },
    ],
    durationMs: 1,
    masker,
  };
}

describe('an error as it leaves the agent (maskedError)', () => {
  it("keeps a revealed preview failure's steps as the preview presented them", () => {
    const masker = new SecretMasker();
    masker.add(secret);
    const error = maskedError(previewFailure(failedRun(new SecretMasker(masker)), true), masker);
    expect(error.details?.steps).toEqual([{ name: 'fetch', durationMs: 1, logs: [`got ${secret}`] }]);
  });

  it('masks details.steps that no preview presented (an error a worker could have shaped)', () => {
    const masker = new SecretMasker();
    masker.add(secret);
    const forged = new CredflowError('WORKFLOW_FAILED', 'failed', {
      details: { steps: [{ name: 'fetch', durationMs: 1, logs: [`got ${secret}`] }] },
    });
    const error = maskedError(forged, masker);
    expect(JSON.stringify(error.details)).not.toContain(secret);
    expect(error.details?.steps).toEqual([{ name: 'fetch', durationMs: 1, logs: [`got ${MASK}`] }]);
  });
});
