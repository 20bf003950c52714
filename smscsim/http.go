package smscsim

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The HTTP endpoint (Config.Stats):
//
//	GET  /stats             the report so far (JSON, see Report)
//	POST /mo                inject an MO message now: body {"from","to","text",
//	                        "method","encoding","account"} (see MO); answers
//	                        {"parts":N,"statuses":["ESME_ROK",...]} once every
//	                        part is answered, 409 when no receiver is bound,
//	                        400 for a bad message, 504 after 30 s
//	POST /mute?for=5s       hang the whole simulator for a while (Sim.Mute)
//	POST /drop              drop every connection (Sim.DropAll)
//	POST /unbind            unbind every bound connection (Sim.UnbindAll)

// moTimeout bounds how long POST /mo waits for the deliver_sm_resp.
const moTimeout = 30 * time.Second

// MOResult is the answer of POST /mo.
type MOResult struct {
	Parts    int      `json:"parts"`
	Statuses []string `json:"statuses"`
	Error    string   `json:"error,omitempty"`
}

func (s *Sim) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, s.Report())
	})
	mux.HandleFunc("POST /mo", func(w http.ResponseWriter, r *http.Request) {
		var m MO
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			writeJSON(w, http.StatusBadRequest, MOResult{Error: "bad JSON: " + err.Error()})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), moTimeout)
		defer cancel()
		sts, err := s.InjectMO(ctx, m)
		res := MOResult{Parts: len(sts), Statuses: make([]string, len(sts))}
		for i, st := range sts {
			res.Statuses[i] = st.String()
		}
		code := http.StatusOK
		if err != nil {
			res.Error = err.Error()
			switch {
			case errors.Is(err, ErrNoReceiver):
				code = http.StatusConflict
			case errors.Is(err, context.DeadlineExceeded):
				code = http.StatusGatewayTimeout
			case errors.Is(err, ErrLost), errors.Is(err, ErrClosed), errors.Is(err, context.Canceled):
				code = http.StatusServiceUnavailable
			default:
				code = http.StatusBadRequest
			}
		}
		writeJSON(w, code, res)
	})
	mux.HandleFunc("POST /mute", func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(r.URL.Query().Get("for"))
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "want ?for=DURATION, e.g. ?for=5s"})
			return
		}
		s.Mute(d)
		writeJSON(w, http.StatusOK, map[string]string{"muted_for": d.String()})
	})
	mux.HandleFunc("POST /drop", func(w http.ResponseWriter, r *http.Request) {
		s.DropAll()
		writeJSON(w, http.StatusOK, map[string]string{"dropped": "all"})
	})
	mux.HandleFunc("POST /unbind", func(w http.ResponseWriter, r *http.Request) {
		s.UnbindAll()
		writeJSON(w, http.StatusOK, map[string]string{"unbound": "all"})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(strings.TrimSpace(endpointHelp) + "\n"))
			return
		}
		http.NotFound(w, r)
	})
	return mux
}

const endpointHelp = `
smscsim endpoint
GET  /stats          report so far (JSON)
POST /mo             inject an MO: {"from":"447700900001","to":"14155550100","text":"STOP","method":"udh16","encoding":"ucs2","account":"acme"}
POST /mute?for=5s    hang the simulator for a while
POST /drop           drop every connection
POST /unbind         unbind every bound connection
`

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
