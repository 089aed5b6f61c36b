export { compileValue } from './compile-value.js';
export type { CompiledValue } from './compile-value.js';
export { compileFields } from './compile-fields.js';
export type { CompiledFields } from './compile-fields.js';
export type { TemplateLocation } from './template-error.js';
