export { readEmbeddedState } from './embedded-state.js';
export type { EmbeddedState } from './embedded-state.js';
export { embeddedRegion, startEmbedded } from './start-embedded.js';
export type { EmbeddedStack, StartEmbeddedOptions } from './start-embedded.js';
