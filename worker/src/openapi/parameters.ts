/**
 * Parameter objects of the OpenAPI documents: one builder per location, so that a parameter is declared in one line
 * and every one has the same shape (name, in, required, description, schema). Path parameters are required by
 * OpenAPI; the query and header ones the API reads are all optional.
 */
type Json = Record<string, unknown>;

export const pathParameter = (name: string, description: string, schema: Json) => ({
  name,
  in: "path",
  required: true,
  description,
  schema,
});

export const queryParameter = (name: string, description: string, schema: Json) => ({
  name,
  in: "query",
  required: false,
  description,
  schema,
});

export const headerParameter = (name: string, description: string, schema: Json) => ({
  name,
  in: "header",
  required: false,
  description,
  schema,
});

/** `limit` and `cursor` of a cursor-paginated list: `perPage` and `cursor` describe them, `limit` bounds the page. */
export function pageParameters(perPage: string, limit: { maximum: number; default: number }, cursor: string) {
  return [
    queryParameter("limit", perPage, { type: "integer", minimum: 1, maximum: limit.maximum, default: limit.default }),
    queryParameter("cursor", cursor, { type: "string" }),
  ];
}
