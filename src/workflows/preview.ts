import type { Integration } from '../config/index.js';
import { CredflowError } from '../errors.js';
import type { FailedWorkflowRun, WorkflowRun } from './run-workflow.js';
import type { SecretMasker } from '../masking/index.js';
import type { StepResult } from '../sandbox/index.js';

export interface PreviewStep {
  name: string;
  durationMs: number;
  logs: string[];
}

export interface Preview {
  response: unknown;
  steps: PreviewStep[];
  durationMs: number;
  masked: boolean;
}

/** Presents a run's step logs; masked unless the caller asked to reveal. */
export function previewSteps(steps: readonly StepResult[], masker: SecretMasker, reveal: boolean): PreviewStep[] {
  return steps.map((step) => ({
    name: step.name,
    durationMs: step.durationMs,
    logs: step.logs.map((l) => {
      const line = l.level === 'info' ? l.message : `[${l.level}] ${l.message}`;
      return reveal ? line : masker.mask(line);
    }),
  }));
}

/**
 * The preview of a run, the same object for the API and the CLI's --json. Masked by default: strings
 * that came out of the secret store and values under secret-named keys become ********. Its JSON is
 * at most `maxBytes` (UTF-8): step log lines are cut first, from the end, with a marker line.
 */
export function toPreview(run: WorkflowRun, reveal: boolean, maxBytes = Infinity): Preview {
  return boundPreview(
    {
      response: reveal ? run.response : run.masker.maskValue(run.response),
      steps: previewSteps(run.steps, run.masker, reveal),
      durationMs: run.durationMs,
      masked: !reveal,
    },
    run.workflow,
    maxBytes,
  );
}

// The errors previewFailure made: their details.steps were presented (masked, or revealed to a
// caller allowed to see them) and must not be masked again; any other error's details are masked whole.
const presentedFailures = new WeakSet<CredflowError>();

/** Whether `error` is a failed preview's, whose `details.steps` are presented already (see previewFailure). */
export function presentsSteps(error: CredflowError): boolean {
  return presentedFailures.has(error);
}

/**
 * A failed run as the error its preview answers with: the run's code and message, and under
 * `details.steps` the steps that ran (when any did), presented as a preview's are (masked unless revealed, log
 * lines cut to the preview limit). The CLI prints them; over HTTP they are the error's details.
 */
export function previewFailure(run: FailedWorkflowRun, reveal: boolean, maxBytes = Infinity): CredflowError {
  const presented: Preview = {
    response: null,
    steps: previewSteps(run.steps, run.masker, reveal),
    durationMs: run.durationMs,
    masked: !reveal,
  };
  let steps: PreviewStep[];
  try {
    steps = boundPreview(presented, run.workflow, maxBytes).steps;
  } catch {
    steps = [];
  }
  if (steps.length === 0) return run.error;
  const error = new CredflowError(run.error.code, run.error.message, { details: { ...run.error.details, steps } });
  presentedFailures.add(error);
  return error;
}

/** The steps of a failed preview, from its error's details (see previewFailure). */
export function failedPreviewSteps(error: unknown): PreviewStep[] | undefined {
  if (!(error instanceof CredflowError)) return undefined;
  const steps = error.details?.steps;
  if (!Array.isArray(steps)) return undefined;
  return steps.filter(
    (s): s is PreviewStep =>
      typeof s === 'object' &&
      s !== null &&
      typeof (s as PreviewStep).name === 'string' &&
      typeof (s as PreviewStep).durationMs === 'number' &&
      Array.isArray((s as PreviewStep).logs) &&
      (s as PreviewStep).logs.every((l) => typeof l === 'string'),
  );
}

const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value));
const markerOf = (count: number, maxBytes: number): string =>
  `... ${count} more ${count === 1 ? 'line' : 'lines'} cut (preview response limit of ${maxBytes} bytes)`;

/** Keeps log lines in order while the preview's JSON fits `maxBytes`; the rest are cut, and counted in one marker line. */
function boundPreview(preview: Preview, workflow: string, maxBytes: number): Preview {
  if (maxBytes === Infinity || jsonBytes(preview) <= maxBytes) return preview;
  const bare: Preview = { ...preview, steps: preview.steps.map((s) => ({ ...s, logs: [] })) };
  const lineCount = preview.steps.reduce((n, s) => n + s.logs.length, 0);
  // Room for the marker line (with its count and the limit), a comma and its quotes.
  let budget = maxBytes - jsonBytes(bare) - jsonBytes(markerOf(lineCount, maxBytes)) - 1;
  if (budget < 0) {
    throw new CredflowError(
      'RESULT_TOO_LARGE',
      `the preview of workflow "${workflow}" is ${jsonBytes(bare)} bytes of JSON without its logs, over the preview response limit of ${maxBytes} bytes (CREDFLOW_PREVIEW_MAX_BYTES)`,
      { details: { workflow, limit: maxBytes } },
    );
  }
  let cut = 0;
  let markedStep: PreviewStep | undefined;
  for (const [index, step] of preview.steps.entries()) {
    const target = bare.steps[index] as PreviewStep;
    for (const line of step.logs) {
      const size = jsonBytes(line) + 1;
      if (cut === 0 && size <= budget) {
        budget -= size;
        target.logs.push(line);
        continue;
      }
      cut += 1;
      markedStep ??= target;
    }
  }
  markedStep?.logs.push(markerOf(cut, maxBytes));
  return bare;
}

/**
 * The profile a preview of `workflow` runs with, as the routes that resolve an integration check
 * theirs: `asked` (or the default) must be an agent-wide profile (CREDFLOW_PROFILES and the
 * default) or one declared by an integration that fetches its credentials with this workflow;
 * anything else is PROFILE_NOT_FOUND, before anything runs.
 */
export function previewProfile(
  workflow: string,
  asked: string | undefined,
  settings: { defaultProfile: string; profiles: readonly string[] },
  integrations: Iterable<Integration>,
): string {
  const chosen = asked ?? settings.defaultProfile;
  if (settings.profiles.includes(chosen)) return chosen;
  const accepted = new Set(settings.profiles);
  for (const integration of integrations) {
    const fetch = integration.fetchCredentialsDynamically;
    if (fetch?.enabled && fetch.workflow === workflow && fetch.profiles)
      for (const profile of Object.keys(fetch.profiles)) accepted.add(profile);
  }
  if (accepted.has(chosen)) return chosen;
  throw new CredflowError(
    'PROFILE_NOT_FOUND',
    `workflow "${workflow}" has no profile "${chosen}" (it accepts: ${[...accepted].join(', ')})`,
    {
      details: { workflow, profile: chosen },
    },
  );
}
