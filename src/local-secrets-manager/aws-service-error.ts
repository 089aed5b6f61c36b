/**
 * An error as AWS Secrets Manager puts it on the wire: `type` becomes `__type` and the
 * `x-amzn-errortype` header, which the AWS SDK turns into the thrown error's `name`.
 * It stays inside this module; it is the emulated service's vocabulary, not credflow's.
 */
export class AwsServiceError extends Error {
  readonly type: string;
  readonly status: number;

  constructor(type: string, message: string, status = 400) {
    super(message);
    this.name = type;
    this.type = type;
    this.status = status;
  }
}

export const SECRET_NOT_FOUND_MESSAGE = "Secrets Manager can't find the specified secret.";

export function secretNotFound(): AwsServiceError {
  return new AwsServiceError('ResourceNotFoundException', SECRET_NOT_FOUND_MESSAGE);
}

export function invalidParameter(message: string): AwsServiceError {
  return new AwsServiceError('InvalidParameterException', message);
}

export function invalidRequest(message: string): AwsServiceError {
  return new AwsServiceError('InvalidRequestException', message);
}

/** The model-constraint error the service's front end answers with (e.g. a missing SecretId). */
export function validationError(message: string): AwsServiceError {
  return new AwsServiceError('ValidationException', `1 validation error detected: ${message}`);
}

export function serializationError(message: string): AwsServiceError {
  return new AwsServiceError('SerializationException', message);
}
