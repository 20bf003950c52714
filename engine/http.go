package engine

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/switchboard-sms/switchboard/console"
)

// handler is the engine's HTTP surface: health, readiness, metrics and the API.
func (e *Engine) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "application/json")
		if err := e.Ready(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			json.NewEncoder(w).Encode(map[string]string{"status": "unavailable", "reason": err.Error()})
			return
		}
		if q := e.quietCarriers(ctx); len(q) > 0 {
			json.NewEncoder(w).Encode(map[string]any{"status": "ready", "throttle_quiet_until": q})
			return
		}
		w.Write([]byte(`{"status":"ready"}` + "\n"))
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}), &collector{e: e}, e.submitLatency)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.Handle("/console/", console.Handler()) // the web console, over the API
	mux.Handle("/console", console.Handler())  // redirects to /console/
	mux.Handle("/", e.api)                     // /v1/..., /admin/v1/..., /openapi.json
	return mux
}

// pprofHandler serves Go's runtime profiles under /debug/pprof/ (the index,
// cmdline, profile (CPU), symbol, trace and the named profiles: heap,
// goroutine, mutex, block, allocs, threadcreate).
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// PprofAddr is the address runtime profiles are served on (nil when
// http.pprof_listen is not set).
func (e *Engine) PprofAddr() net.Addr {
	if e.pprofLn == nil {
		return nil
	}
	return e.pprofLn.Addr()
}
