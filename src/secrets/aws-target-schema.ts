import { awsCallIdentityShape } from './aws-call-identity.js';

/**
 * The fields every AWS bridge call takes besides its own: where to call (`region`), as whom
 * (`credentials`), and a role to assume first (`roleArn`, `externalId`, `sessionName`; see
 * aws-call-identity.ts and withAssumedRole).
 */
export const awsTargetFields = awsCallIdentityShape;
