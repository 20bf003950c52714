package api_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/switchboard-sms/switchboard/api"
	"github.com/switchboard-sms/switchboard/internal/testenv"
)

// BenchmarkSendMessage measures POST /v1/messages end to end: HTTP client →
// server → API (token check, JSON, segmentation) → inbox Enqueue in
// PostgreSQL → 202, with concurrent clients each sending one request at a
// time over keep-alive connections. It reports msgs/s and the latency
// percentiles, with group commit off (batch=1: one Enqueue per request)
// and on (concurrent requests share an Enqueue):
//
//	go test -run '^$' -bench SendMessage -benchtime 10000x -count 5 ./api/
//
// SB_WORKERS=n sets Config.EnqueueWorkers; SB_NOCACHE=1 turns the token
// cache off. Besides msgs/s and latency it reports msgs/call (messages per
// Enqueue call) and the CPU per message of the PostgreSQL backends of the
// pool and of this process (HTTP client included).
func BenchmarkSendMessage(b *testing.B) {
	for _, batch := range []int{1, api.DefaultEnqueueBatch} {
		for _, clients := range []int{16, 64} {
			b.Run(fmt.Sprintf("batch=%d/clients=%d", batch, clients), func(b *testing.B) {
				benchSend(b, batch, clients)
			})
		}
	}
}

func benchSend(b *testing.B, batch, clients int) {
	e := newEnv(b, func(c *api.Config) {
		c.EnqueueBatch = batch
		if w, _ := strconv.Atoi(os.Getenv("SB_WORKERS")); w > 0 {
			c.EnqueueWorkers = w
		}
		if os.Getenv("SB_NOCACHE") != "" {
			c.AuthCacheTTL = -1
		}
		c.MaxBodyBytes = api.DefaultMaxBodyBytes
		c.Logger = nil
	})
	const workspaces = 20
	var tenants []tenant
	for i := range workspaces {
		tenants = append(tenants, e.ready(fmt.Sprint("ws", i)))
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}}
	defer client.CloseIdleConnections()
	url := e.srv.URL + "/v1/messages"
	lat := make([][]time.Duration, clients)
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	pids := backendPIDs(b, e)
	pg0, go0 := testenv.ProcessCPU(pids), testenv.SelfCPU()
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(c), 7))
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				w := tenants[rng.IntN(workspaces)]
				body := fmt.Sprintf(`{"to": %q, "text": "Hi! Your order #%d has shipped and arrives Tuesday. Reply STOP to opt out.", "client_ref": "r%d"}`,
					contact(rng.IntN(5000)), i, i)
				req, _ := http.NewRequest("POST", url, bytes.NewReader([]byte(body)))
				req.Header.Set("Authorization", "Bearer "+w.token)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				lat[c] = append(lat[c], time.Since(t0))
				if res.StatusCode != http.StatusAccepted {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	pgCPU, goCPU := testenv.ProcessCPU(pids)-pg0, testenv.SelfCPU()-go0
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, b.N)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) / 1000 }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
	if pgCPU > 0 {
		b.ReportMetric(float64(pgCPU.Microseconds())/float64(b.N), "pg-cpu-us/msg")
	}
	b.ReportMetric(float64(goCPU.Microseconds())/float64(b.N), "go-cpu-us/msg")
	if st := e.api.Stats(); st.EnqueueCalls > 0 {
		b.ReportMetric(float64(st.Enqueued)/float64(st.EnqueueCalls), "msgs/call")
	}
}

// backendPIDs returns the server processes of every connection of the
// env's pool (the pool is filled first).
func backendPIDs(b *testing.B, e *env) []int {
	var conns []*pgxpool.Conn
	var pids []int
	for range e.pool.Config().MaxConns {
		c, err := e.pool.Acquire(e.ctx)
		if err != nil {
			b.Fatal(err)
		}
		conns = append(conns, c)
		var pid int
		if err := c.QueryRow(e.ctx, `SELECT pg_backend_pid()`).Scan(&pid); err != nil {
			b.Fatal(err)
		}
		pids = append(pids, pid)
	}
	for _, c := range conns {
		c.Release()
	}
	return pids
}
