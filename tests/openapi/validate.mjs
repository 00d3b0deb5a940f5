// Validates an OpenAPI document read from stdin against the OpenAPI 3
// schema and its rules (references resolve, operation ids unique, ...).
// Prints "valid" or the validator's message; exits 0 or 1.

import SwaggerParser from '@apidevtools/swagger-parser';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const spec = JSON.parse(Buffer.concat(chunks).toString('utf8'));

try {
  const api = await SwaggerParser.validate(spec);
  console.log(`valid OpenAPI ${api.openapi}`);
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
