import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { AwsServiceError } from './aws-service-error.js';
import type { RolePolicy, SessionKeys } from './sts-sessions.js';

const STS_VERSION = '2011-06-15';
const XMLNS = `https://sts.amazonaws.com/doc/${STS_VERSION}/`;
/** AWS's bounds on DurationSeconds (the role's maximum session duration may be lower; not modelled). */
const AWS_MIN_DURATION = 900;
const MAX_DURATION = 43_200;
const ROLE_ARN = /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const EXTERNAL_ID = /^[\w+=,.@:/-]{2,1224}$/;

/**
 * The one STS action the local endpoint serves, AssumeRole, in the AWS Query protocol (a form-encoded
 * POST answered in XML). `callerAccessKeyId` signed the request. Without a RolePolicy nothing may be
 * assumed. Answers the XML document; refusals are AwsServiceErrors named as STS names them.
 */
export function assumeRole(
  form: URLSearchParams,
  callerAccessKeyId: string,
  roles: RolePolicy | undefined,
  sessions: SessionKeys,
  now: number,
): string {
  const action = form.get('Action');
  if (action !== 'AssumeRole') {
    throw new AwsServiceError(
      'InvalidAction',
      `Could not find operation ${action ?? '(no Action)'} for version ${STS_VERSION}`,
    );
  }
  if (form.get('Version') !== STS_VERSION) {
    throw new AwsServiceError(
      'InvalidAction',
      `Could not find operation AssumeRole for version ${form.get('Version') ?? '(none)'}`,
    );
  }
  const roleArn = required(form, 'RoleArn');
  const sessionName = required(form, 'RoleSessionName');
  const externalId = form.get('ExternalId') ?? undefined;
  const durationText = form.get('DurationSeconds');
  const min = roles?.minDurationSeconds ?? AWS_MIN_DURATION;
  const durationSeconds = durationText === null ? 3600 : Number(durationText);
  if (!ROLE_ARN.test(roleArn))
    throw validation(
      `Value '${roleArn.slice(0, 256)}' at 'roleArn' failed to satisfy constraint: Member must be a role ARN`,
    );
  if (!SESSION_NAME.test(sessionName)) {
    throw validation(
      "Value at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*, length 2 to 64",
    );
  }
  if (externalId !== undefined && !EXTERNAL_ID.test(externalId)) {
    throw validation(
      "Value at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]*, length 2 to 1224",
    );
  }
  if (!Number.isInteger(durationSeconds) || durationSeconds < min || durationSeconds > MAX_DURATION) {
    throw validation(
      `Value '${String(durationText).slice(0, 32)}' at 'durationSeconds' failed to satisfy constraint: Member must have value between ${min} and ${MAX_DURATION}`,
    );
  }
  const ask = { callerAccessKeyId, roleArn, sessionName, externalId, durationSeconds };
  if (!roles) throw accessDenied(callerAccessKeyId, roleArn);
  roles.checkAssume(ask);
  const session = sessions.mint(ask, now);
  roles.onIssued?.(session);
  return (
    `<AssumeRoleResponse xmlns="${XMLNS}"><AssumeRoleResult>` +
    `<AssumedRoleUser><Arn>${xml(session.assumedRoleArn)}</Arn><AssumedRoleId>AROA${session.accessKeyId.slice(4, 20)}:${xml(sessionName)}</AssumedRoleId></AssumedRoleUser>` +
    `<Credentials><AccessKeyId>${session.accessKeyId}</AccessKeyId><SecretAccessKey>${xml(session.secretAccessKey)}</SecretAccessKey>` +
    `<SessionToken>${xml(session.sessionToken)}</SessionToken><Expiration>${new Date(session.expiresAt).toISOString().replace('.000', '')}</Expiration></Credentials>` +
    `</AssumeRoleResult><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></AssumeRoleResponse>`
  );
}

/** STS's refusal of a caller that may not assume `roleArn` (the trust policy, or the external id, does not match). */
export function accessDenied(callerAccessKeyId: string, roleArn: string): AwsServiceError {
  return new AwsServiceError(
    'AccessDenied',
    `User: arn:aws:iam::123456789012:user/${callerAccessKeyId} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`,
    403,
  );
}

/** An error as the Query protocol puts it: `<ErrorResponse><Error><Type><Code><Message>`. */
export function sendQueryError(res: ServerResponse, error: AwsServiceError): void {
  const type = error.status >= 500 ? 'Receiver' : 'Sender';
  sendXml(
    res,
    error.status,
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>${type}</Type><Code>${xml(error.type)}</Code>` +
      `<Message>${xml(error.message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );
}

export function sendXml(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    'content-type': 'text/xml',
    'content-length': Buffer.byteLength(body),
    'x-amzn-requestid': randomUUID(),
  });
  res.end(body);
}

function required(form: URLSearchParams, name: string): string {
  const value = form.get(name);
  if (value === null || value === '') {
    throw validation(
      `Value null at '${name[0]!.toLowerCase()}${name.slice(1)}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

function validation(message: string): AwsServiceError {
  return new AwsServiceError('ValidationError', `1 validation error detected: ${message}`);
}

function xml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
