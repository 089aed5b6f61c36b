export { createWorkflowRunner, WorkflowRunError } from './run-workflow.js';
export type { RunWorkflowOptions, WorkflowRun, WorkflowRunner, WorkflowRunnerDeps } from './run-workflow.js';
export { previewProfile, previewSteps, toPreview } from './preview.js';
export type { Preview, PreviewStep } from './preview.js';
