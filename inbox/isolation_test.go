package inbox_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/switchboard-sms/switchboard/inbox"
)

// TestWorkspaceIsolation: workspace A, through every workspace-scoped
// operation, can neither read nor change B's numbers, threads or messages.
func TestWorkspaceIsolation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := e.ctx
	a, aNum := e.ready("A", inbox.Dedicated)
	b, bDed := e.ready("B", inbox.Dedicated)
	bShared := e.shared("carrier-a")
	e.connect(b, bShared)
	keyed := msg(b, contact(1), "b's secret")
	keyed.IdempotencyKey = "shared-key"
	keyed.From = bDed.E164
	bRes := e.send(keyed)[0]
	e.inbound(mo(contact(1), bDed.E164, "reply to b"))
	bThread, bMsg := bRes.Thread, bRes.ID

	snapshot := func() string {
		t.Helper()
		nums, err := e.s.ListNumbers(ctx, b)
		ok(t, err)
		ths, _, err := e.s.ListThreads(ctx, b, inbox.Page{})
		ok(t, err)
		ms, _, err := e.s.ListMessages(ctx, b, bThread, inbox.Page{})
		ok(t, err)
		out := ""
		for _, n := range nums {
			out += fmt.Sprintf("number %d %s %s\n", n.ID, n.State, n.Kind)
		}
		for _, th := range ths {
			out += fmt.Sprintf("thread %d %s %d %s\n", th.ID, th.Contact, th.UnreadCount, th.LastMessageAt)
		}
		for _, m := range ms {
			out += fmt.Sprintf("message %d %s %s %s\n", m.ID, m.Body, m.Status, m.From)
		}
		var optedOut int
		ok(t, e.pool.QueryRow(ctx, `SELECT count(*) FROM contacts WHERE workspace_id = $1 AND opted_out`, b).Scan(&optedOut))
		return out + fmt.Sprint("opted out ", optedOut)
	}
	before := snapshot()

	enqueueAs := func(r inbox.OutboundRequest) error {
		res, err := e.s.Enqueue(ctx, []inbox.OutboundRequest{r})
		if err != nil {
			return err
		}
		return res[0].Err
	}
	cases := []struct {
		name string
		op   func(context.Context) error
		code inbox.Code
	}{
		{"GetMessage", func(ctx context.Context) error { _, err := e.s.GetMessage(ctx, a, bMsg); return err }, inbox.CodeNotFound},
		{"GetThread", func(ctx context.Context) error { _, err := e.s.GetThread(ctx, a, bThread); return err }, inbox.CodeNotFound},
		{"ListMessages", func(ctx context.Context) error {
			_, _, err := e.s.ListMessages(ctx, a, bThread, inbox.Page{})
			return err
		}, inbox.CodeNotFound},
		{"MarkThreadRead", func(ctx context.Context) error { return e.s.MarkThreadRead(ctx, a, bThread) }, inbox.CodeNotFound},
		{"ConnectNumber dedicated", func(ctx context.Context) error {
			_, err := e.s.ConnectNumber(ctx, a, bDed.ID)
			return err
		}, inbox.CodeNotFound},
		{"DisableNumber dedicated", func(ctx context.Context) error { return e.s.DisableNumber(ctx, a, bDed.ID) }, inbox.CodeNotFound},
		{"EnableNumber dedicated", func(ctx context.Context) error { return e.s.EnableNumber(ctx, a, bDed.ID) }, inbox.CodeNotFound},
		{"DisconnectNumber dedicated", func(ctx context.Context) error { return e.s.DisconnectNumber(ctx, a, bDed.ID) }, inbox.CodeNotFound},
		// A shared number B uses is visible to A, but A's calls act on A's
		// connection only: B's stays as it was.
		{"DisableNumber shared", func(ctx context.Context) error { return e.s.DisableNumber(ctx, a, bShared.ID) }, inbox.CodeNoNumberConnected},
		{"DisconnectNumber shared", func(ctx context.Context) error { return e.s.DisconnectNumber(ctx, a, bShared.ID) }, inbox.CodeNoNumberConnected},
		{"Enqueue from B's number", func(ctx context.Context) error {
			r := msg(a, contact(1), "spoof")
			r.From = bDed.E164
			return enqueueAs(r)
		}, inbox.CodeNoNumberConnected},
		{"Enqueue with B's idempotency key", func(ctx context.Context) error {
			r := msg(a, contact(1), "mine")
			r.IdempotencyKey = "shared-key"
			res, err := e.s.Enqueue(ctx, []inbox.OutboundRequest{r})
			if err != nil {
				return err
			}
			if res[0].Duplicate || res[0].ID == bMsg || res[0].Thread == bThread {
				return fmt.Errorf("A got B's message: %+v", res[0])
			}
			return res[0].Err
		}, ""},
		{"ListNumbers hides B's dedicated", func(ctx context.Context) error {
			nums, err := e.s.ListNumbers(ctx, a)
			if err != nil {
				return err
			}
			for _, n := range nums {
				if n.ID == bDed.ID {
					return fmt.Errorf("A sees B's dedicated number")
				}
				if n.ID == bShared.ID && n.State != inbox.Available {
					return fmt.Errorf("A sees B's connection state %s", n.State)
				}
			}
			return nil
		}, ""},
		{"ListThreads shows only A's", func(ctx context.Context) error {
			ths, _, err := e.s.ListThreads(ctx, a, inbox.Page{})
			if err != nil {
				return err
			}
			for _, th := range ths {
				if th.Workspace != a || th.ID == bThread {
					return fmt.Errorf("A sees thread %+v", th)
				}
			}
			return nil
		}, ""},
		{"Changes shows only A's", func(ctx context.Context) error {
			cs, err := e.s.Changes(ctx, a, "", inbox.MaxPageSize)
			if err != nil {
				return err
			}
			for _, c := range cs {
				if c.Message == bMsg || c.Thread == bThread || c.Body == "b's secret" || c.Body == "reply to b" {
					return fmt.Errorf("A's feed has B's change %+v", c)
				}
			}
			return nil
		}, ""},
		{"AppendInbound to A's number lands in A", func(ctx context.Context) error {
			res, err := e.s.AppendInbound(ctx, []inbox.Inbound{mo(contact(1), aNum.E164, "to a")})
			if err != nil {
				return err
			}
			if res[0].Workspace != a || res[0].Thread == bThread {
				return fmt.Errorf("inbound to A's number: %+v", res[0])
			}
			return nil
		}, ""},
		{"STOP to A does not opt out of B", func(ctx context.Context) error {
			if _, err := e.s.AppendInbound(ctx, []inbox.Inbound{mo(contact(1), aNum.E164, "STOP")}); err != nil {
				return err
			}
			return nil // the snapshot below checks B's opt-outs
		}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantCode(t, c.op(ctx), c.code)
		})
	}
	if after := snapshot(); after != before {
		t.Fatalf("B changed:\nbefore %s\nafter  %s", before, after)
	}
	if m := e.message(b, bMsg); m.Status != inbox.StatusQueued || m.Body != "b's secret" {
		t.Fatalf("B's message %+v", m)
	}
}
