package engine

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard-sms/switchboard/engine/config"
	"github.com/switchboard-sms/switchboard/internal/testenv"
	"github.com/switchboard-sms/switchboard/smscsim"
)

// PostgreSQL restarts under load (a private cluster, stopped in immediate
// mode, as a crash): the API answers 503 meanwhile, every message answered
// 202 reaches a final status afterwards, and no deliver_sm is acknowledged
// before its commit — replies sent during the outage are answered with a
// temporary error, the carrier sends them again, and each lands in its
// thread exactly once.
func TestFaultPostgresRestart(t *testing.T) {
	t.Parallel()
	pg := testenv.StartPostgresServer(t)
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, pg.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(ctx, "CREATE DATABASE sb"); err != nil {
		t.Fatal(err)
	}
	admin.Close(ctx)

	sim := testenv.StartSim(t, `accounts: [{system_id: sb, password: "", latency: 2ms, receipts: {delay: 20ms}}]`)
	te := startEngine(t, engineConfig(t, pg.URL("sb"), sim.Addr(""), func(c *config.Config) {
		fastClasses(c)
		c.Operator.Token = "operator-token-for-the-pg-test"
	}))
	base := te.url
	var ws struct {
		ID    string `json:"id"`
		Token string `json:"token"`
	}
	if st := testenv.APICall(t, "POST", base+"/admin/v1/workspaces", "operator-token-for-the-pg-test", map[string]any{"name": "acme", "sms_addon": true}, &ws); st >= 300 {
		t.Fatalf("create workspace: %d", st)
	}
	testenv.APICall(t, "POST", base+"/admin/v1/numbers", "operator-token-for-the-pg-test", map[string]any{"number": "+14155552671", "kind": "dedicated", "workspace": ws.ID, "carrier": "sim"}, nil)
	if st := testenv.APICall(t, "PUT", base+"/v1/sms/number", ws.Token, map[string]any{"number": "+14155552671"}, nil); st >= 300 {
		t.Fatalf("connect: %d", st)
	}

	// Load: 8 clients send continuously; every 202 is remembered.
	var mu sync.Mutex
	var accepted []string
	var unavailable, other atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 8; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				var r struct {
					ID string `json:"id"`
				}
				st := testenv.APICall(t, "POST", base+"/v1/messages", ws.Token, map[string]any{"to": fmt.Sprintf("+4479111%05d", (c*1000+i)%500), "text": fmt.Sprintf("pg %d %d", c, i)}, &r)
				switch st {
				case 202:
					mu.Lock()
					accepted = append(accepted, r.ID)
					mu.Unlock()
				case 503:
					unavailable.Add(1)
					time.Sleep(20 * time.Millisecond) // a client backs off a little on 503
				default:
					other.Add(1)
				}
			}
		}()
	}
	nAccepted := func() int { mu.Lock(); defer mu.Unlock(); return len(accepted) }
	testenv.Eventually(t, "the load to be under way", func() bool { return nAccepted() >= 50 })
	pg.Stop()
	down := time.Now()
	// Replies during the outage: the engine cannot commit them, so it must
	// not acknowledge them.
	var moStatuses []string
	for i := 0; i < 5; i++ {
		sts, err := sim.InjectMO(ctx, smscsim.MO{From: fmt.Sprintf("+44791112%04d", i), To: "+14155552671", Text: fmt.Sprintf("reply during outage %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		moStatuses = append(moStatuses, fmt.Sprint(sts))
	}
	testenv.Eventually(t, "the API to answer 503 while the database is down", func() bool { return unavailable.Load() > 0 })
	time.Sleep(time.Until(down.Add(2 * time.Second))) // real time: the outage lasts 2 s, long enough for pools and retries to notice
	during := unavailable.Load()
	pg.Start()
	outage := time.Since(down)
	before := nAccepted()
	testenv.Eventually(t, "the API to accept messages again", func() bool { return nAccepted() >= before+50 })
	close(stop)
	wg.Wait()
	mu.Lock()
	ids := append([]string(nil), accepted...)
	mu.Unlock()

	// Every accepted message reaches a final status.
	final := map[string]bool{"delivered": true, "failed": true, "expired": true, "rejected": true}
	notFinal := 0
	deadline := time.Now().Add(60 * time.Second)
	for _, id := range ids {
		for {
			var m struct {
				Status string `json:"status"`
			}
			if st := testenv.APICall(t, "GET", base+"/v1/messages/"+id, ws.Token, nil, &m); st == 200 && final[m.Status] {
				break
			}
			if time.Now().After(deadline) {
				notFinal++
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	// Each reply sent during the outage is in its thread exactly once.
	replies := map[string]int{}
	testenv.Eventually(t, "the replies resent after the outage", func() bool {
		var threads struct {
			Threads []struct {
				ID string `json:"id"`
			} `json:"threads"`
			Next *string `json:"next_cursor"`
		}
		for k := range replies {
			delete(replies, k)
		}
		cursor := ""
		for {
			testenv.APICall(t, "GET", base+"/v1/threads?cursor="+cursor, ws.Token, nil, &threads)
			for _, th := range threads.Threads {
				var page struct {
					Messages []struct {
						Direction string `json:"direction"`
						Text      string `json:"text"`
					} `json:"messages"`
				}
				testenv.APICall(t, "GET", base+"/v1/threads/"+th.ID+"/messages", ws.Token, nil, &page)
				for _, m := range page.Messages {
					if m.Direction == "in" && strings.HasPrefix(m.Text, "reply during outage") {
						replies[m.Text]++
					}
				}
			}
			if threads.Next == nil || *threads.Next == "" {
				break
			}
			cursor = *threads.Next
		}
		return len(replies) == 5
	})
	t.Logf("postgres restart under load: outage %v, 202s %d, 503s during the outage %d, other errors %d, not final %d; replies during the outage answered %v, then stored %v",
		outage.Round(time.Millisecond), len(ids), during, other.Load(), notFinal, moStatuses, replies)
	dupReplies := 0
	for _, k := range replies {
		dupReplies += k - 1
	}
	testenv.FaultRow(t, "PostgreSQL restarted (immediate stop)", "8 API clients + 5 replies", len(ids), notFinal+5-len(replies), dupReplies, 0)
	if during == 0 {
		t.Fatal("the API never answered 503 while the database was down")
	}
	if notFinal != 0 {
		t.Fatalf("%d accepted messages never reached a final status", notFinal)
	}
	for text, n := range replies {
		if n != 1 {
			t.Fatalf("%q is %d times in its thread", text, n)
		}
	}
	for _, s := range moStatuses {
		if !strings.Contains(s, "ESME_RX_T_APPN") && !strings.Contains(s, "lost") {
			t.Fatalf("a reply was acknowledged while the database was down: %s", s)
		}
	}
}
