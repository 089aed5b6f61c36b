import { serializationError, validationError } from './aws-service-error.js';

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

interface Length {
  min?: number;
  max?: number;
}

/**
 * Typed reads of an AWS JSON 1.1 request body. A member of the wrong JSON type is a
 * SerializationException and a broken model constraint a ValidationException, as the service's
 * front end answers. Messages name the member, never its value (values may be secrets).
 */
export class Params {
  constructor(private readonly body: Record<string, unknown>) {}

  string(field: string, length: Length = {}): string | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string') throw wrongType(field, 'a string');
    checkLength(field, [...value].length, length);
    return value;
  }

  requiredString(field: string, length: Length = {}): string {
    const value = this.string(field, length);
    if (value === undefined) {
      throw validationError(`Value null at '${member(field)}' failed to satisfy constraint: Member must not be null`);
    }
    return value;
  }

  boolean(field: string): boolean | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') throw wrongType(field, 'a boolean');
    return value;
  }

  integer(field: string, range?: { min: number; max: number }): number | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'number' || !Number.isInteger(value)) throw wrongType(field, 'an integer');
    if (range && (value < range.min || value > range.max)) {
      throw validationError(
        `Value '${value}' at '${member(field)}' failed to satisfy constraint: ` +
          `Member must have value between ${range.min} and ${range.max}`,
      );
    }
    return value;
  }

  stringList(field: string, count: Length, itemLength: Length = {}): string[] | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw wrongType(field, 'a list');
    checkLength(field, value.length, count);
    return value.map((item: unknown) => {
      if (typeof item !== 'string') throw wrongType(field, 'a list of strings');
      checkLength(field, [...item].length, itemLength);
      return item;
    });
  }

  /** A blob member: base64 text in JSON, bytes here. */
  binary(field: string, length: Length = {}): Uint8Array | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || !BASE64.test(value)) throw wrongType(field, 'base64 text');
    const bytes = new Uint8Array(Buffer.from(value, 'base64'));
    checkLength(field, bytes.length, length);
    return bytes;
  }

  /** A list of JSON objects, each read through its own Params. */
  objectList(field: string): Params[] | undefined {
    const value = this.body[field];
    if (value === undefined || value === null) return undefined;
    if (!Array.isArray(value)) throw wrongType(field, 'a list');
    return value.map((item: unknown) => {
      if (!isObject(item)) throw wrongType(field, 'a list of structures');
      return new Params(item);
    });
  }
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkLength(field: string, actual: number, { min, max }: Length): void {
  if (min !== undefined && actual < min) {
    throw validationError(
      `Value at '${member(field)}' failed to satisfy constraint: ` +
        `Member must have length greater than or equal to ${min}`,
    );
  }
  if (max !== undefined && actual > max) {
    throw validationError(
      `Value at '${member(field)}' failed to satisfy constraint: Member must have length less than or equal to ${max}`,
    );
  }
}

function wrongType(field: string, expected: string): Error {
  return serializationError(`${field} must be ${expected}.`);
}

/** The service names members in camelCase in validation messages ('secretId'). */
function member(field: string): string {
  return field.charAt(0).toLowerCase() + field.slice(1);
}
