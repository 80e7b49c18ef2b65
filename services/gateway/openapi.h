/*
 * openapi -- the OpenAPI 3.0 document served at /api/openapi.json.
 *
 * Written by hand (it carries prose the route table does not), and kept
 * equal to routes_table by tests/unit/test_gateway.c: every route is
 * documented with its operationId, every documented path and method routes.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef LOOM_GW_OPENAPI_H
#define LOOM_GW_OPENAPI_H

/* The document as JSON text; static storage. */
const char *openapi_document(void);

#endif
