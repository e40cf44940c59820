/**
 * The admin API's own OpenAPI document (GET /openapi/admin.json, tag `admin`): operators' account, key and credit
 * routes, behind the ADMIN_TOKEN. Kept out of the public document so that app developers never see it.
 */
import { AccountSchema, CreditResultSchema, IssuedKeySchema, KeyListSchema } from "../accounts/schemas";
import { CreditSchema, NewAccountSchema, NewKeySchema, TermsSchema } from "../routes/admin";
import { componentSchemas, json, problem, problemSchema, ref } from "./components";

const accountId = {
  name: "id",
  in: "path",
  required: true,
  description: "the account id",
  schema: { type: "string" },
};
const body = (name: string, required = true) => ({
  required,
  content: { "application/json": { schema: ref(name) } },
});
const common = {
  "400": problem("malformed JSON"),
  "401": problem("missing or wrong admin token"),
  "413": problem("body too large"),
  "415": problem("not application/json"),
};
const tags = ["admin"];

export function adminDocument(serverUrl: string) {
  return {
    openapi: "3.1.0",
    info: {
      title: "AccDiffusion v2 admin API",
      version: "1.0.0",
      description:
        "Accounts, API keys and credit, for operators (Authorization: Bearer <ADMIN_TOKEN>). Amounts are integer " +
        "microdollars.",
      license: { name: "Proprietary", identifier: "LicenseRef-Proprietary" },
    },
    servers: [{ url: serverUrl, description: "this deployment" }],
    tags: [{ name: "admin", description: "operator routes" }],
    security: [{ adminToken: [] }],
    components: {
      securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "the ADMIN_TOKEN secret" } },
      schemas: {
        ...componentSchemas(
          { NewAccount: NewAccountSchema, Terms: TermsSchema, NewKey: NewKeySchema, Credit: CreditSchema },
          "input",
        ),
        ...componentSchemas({
          Account: AccountSchema,
          IssuedKey: IssuedKeySchema,
          KeyList: KeyListSchema,
          CreditResult: CreditResultSchema,
        }),
        Problem: problemSchema,
      },
    },
    paths: {
      "/admin/accounts": {
        post: {
          operationId: "createAccount",
          tags,
          summary: "Create an account",
          requestBody: body("NewAccount", false),
          responses: {
            "201": json("the account", ref("Account")),
            "422": problem("validation failed"),
            ...common,
          },
        },
      },
      "/admin/accounts/{id}": {
        parameters: [accountId],
        get: {
          operationId: "getAccount",
          tags,
          summary: "An account's summary",
          responses: { "200": json("the account", ref("Account")), "404": problem("no such account"), ...common },
        },
      },
      "/admin/accounts/{id}/limit": {
        parameters: [accountId],
        post: {
          operationId: "setAccountTerms",
          tags,
          summary: "Change credit limit, daily quota or rate limit",
          requestBody: body("Terms"),
          responses: {
            "200": json("the account", ref("Account")),
            "404": problem("no such account"),
            "422": problem("validation failed"),
            ...common,
          },
        },
      },
      "/admin/accounts/{id}/keys": {
        parameters: [accountId],
        post: {
          operationId: "issueKey",
          tags,
          summary: "Issue an API key (shown once)",
          requestBody: body("NewKey", false),
          responses: {
            "201": json("the new key", ref("IssuedKey")),
            "404": problem("no such account"),
            "422": problem("validation failed"),
            ...common,
          },
        },
        get: {
          operationId: "listKeys",
          tags,
          summary: "The account's keys (prefixes only)",
          responses: { "200": json("the keys", ref("KeyList")), "404": problem("no such account"), ...common },
        },
      },
      "/admin/keys/{prefix}": {
        parameters: [
          { name: "prefix", in: "path", required: true, description: "the key's prefix", schema: { type: "string" } },
        ],
        delete: {
          operationId: "revokeKey",
          tags,
          summary: "Revoke a key (effective at once)",
          responses: { "204": { description: "revoked" }, "404": problem("no such key"), ...common },
        },
      },
      "/admin/accounts/{id}/credit": {
        parameters: [accountId],
        post: {
          operationId: "creditAccount",
          tags,
          summary: "Credit an account (idempotent by reference or Idempotency-Key)",
          parameters: [
            {
              name: "Idempotency-Key",
              in: "header",
              required: false,
              description: "used as the reference when the body has none",
              schema: { type: "string", maxLength: 200 },
            },
          ],
          requestBody: body("Credit"),
          responses: {
            "200": json("this reference was already credited: nothing changed", ref("CreditResult")),
            "201": json("credited", ref("CreditResult")),
            "404": problem("no such account"),
            "409": problem("this reference was already used for another amount"),
            "422": problem("validation failed"),
            ...common,
          },
        },
      },
    },
  };
}
