package api

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the API's OpenAPI 3 document, written by hand; a test
// checks it lists exactly the routes of the route table.
//
//go:embed openapi.json
var openAPIDoc []byte

// openAPI: GET /openapi.json.
func (c *call) openAPI() error {
	h := c.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "public, max-age=300")
	c.w.WriteHeader(http.StatusOK)
	c.w.Write(openAPIDoc)
	return nil
}
