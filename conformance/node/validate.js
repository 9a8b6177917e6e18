// Validates a batch of FHIR resources with two public Node validators, one process per batch.
// stdin: a JSON array of resources. stdout: a JSON array, one entry per resource:
//   {"fhir.js": [messages...], "asymmetrik": [messages...]}
// FHIR.js: new Fhir().validate(obj, {errorOnUnexpected: true}) catches required-binding codes
// and required primitives; Asymmetrik: validate(obj, true) against the official JSON schema.
"use strict";
const { Fhir } = require("fhir");
const JSONSchemaValidator = require("@asymmetrik/fhir-json-schema-validator");

const fhir = new Fhir();
const schema = new JSONSchemaValidator();

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const resources = JSON.parse(input);
  const results = resources.map((resource) => {
    const fhirjs = fhir.validate(resource, { errorOnUnexpected: true });
    const fhirjsErrors = (fhirjs.messages || [])
      .filter((m) => m.severity === "error")
      .map((m) => `${m.location}: ${m.message}`);
    const schemaErrors = (schema.validate(resource, true) || [])
      .map((e) => `${e.instancePath || e.dataPath || ""}: ${e.message}`);
    return { "fhir.js": fhirjsErrors, asymmetrik: schemaErrors };
  });
  process.stdout.write(JSON.stringify(results));
});
