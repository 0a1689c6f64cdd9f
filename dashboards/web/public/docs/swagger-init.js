// Swagger UI for the hub's OpenAPI schema, from the hub's own files (a script file, not inline: the pages' CSP
// allows no inline scripts). "Authorize" logs in with the OAuth2 password form of /api/v1/auth/token.
window.ui = SwaggerUIBundle({
  url: '/openapi.json',
  dom_id: '#swagger-ui',
  deepLinking: true,
  persistAuthorization: false,
  layout: 'BaseLayout',
})
