export { createWorkflowRunner } from './run-workflow.js';
export type {
  RunWorkflowOptions,
  WorkflowRun,
  FailedWorkflowRun,
  WorkflowOutcome,
  WorkflowRunner,
  WorkflowRunnerDeps,
} from './run-workflow.js';
export {
  failedPreviewSteps,
  presentsSteps,
  previewFailure,
  previewProfile,
  previewSteps,
  toPreview,
} from './preview.js';
export type { Preview, PreviewStep } from './preview.js';
