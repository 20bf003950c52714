package api

// Routes lists the route table as "METHOD /path" (for the tests).
func Routes() []string {
	out := make([]string, len(routes))
	for i, r := range routes {
		out[i] = r.method + " " + r.path
	}
	return out
}

// WorkspaceRoutes lists the routes that take a workspace token.
func WorkspaceRoutes() []string {
	var out []string
	for _, r := range routes {
		if r.access == workspace {
			out = append(out, r.method+" "+r.path)
		}
	}
	return out
}
