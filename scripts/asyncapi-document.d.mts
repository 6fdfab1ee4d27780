/** Builds the AsyncAPI 3.0 document of the wire contract from the validator's schemas. */
export function buildAsyncApiDocument(schemas: object, info: { version: string }): Record<string, unknown>;
