package gateway

import (
	_ "embed"
	"net/http"
)

// openAPIDoc is the OpenAPI 3 document of every route, served at
// /v1/openapi.json. TestOpenAPI_CoversRoutes checks it against routes.
//
//go:embed openapi.json
var openAPIDoc []byte

func (g *Gateway) serveOpenAPI(w http.ResponseWriter, _ *http.Request, _ *reqInfo) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	_, _ = w.Write(openAPIDoc)
}
