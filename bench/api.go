package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// APIClient calls the engine's HTTP API (the workspace and the operator
// routes) with one bearer token, JSON both ways. Make one with NewAPIClient;
// the zero value is not usable. It is safe for concurrent use, and every
// APIClient shares one pool of keep-alive connections. cmd/demo uses it
// too.
type APIClient struct {
	base, token string
	hc          *http.Client
}

var apiTransport = &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}

// NewAPIClient returns a client of the API at base (a URL such as
// http://127.0.0.1:8080, without a trailing slash) that sends token as its
// bearer token. Each request gives up after 30 s.
func NewAPIClient(base, token string) *APIClient {
	return &APIClient{base: base, token: token, hc: &http.Client{Transport: apiTransport, Timeout: 30 * time.Second}}
}

func (c *APIClient) with(token string) *APIClient {
	return &APIClient{base: c.base, token: token, hc: c.hc}
}

// ErrNoAPI says the engine answered 404 to the operator API: it does not
// serve the HTTP API (an engine built before the API was wired in).
var ErrNoAPI = errors.New("the engine does not serve the operator API (POST /admin/v1/workspaces is 404)")

// apiError is an answer with a status of 300 or more.
type apiError struct {
	Method, Path string
	Status       int
	Code         string // the API's error code, when the body has one
	Body         string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s %s: %d %s", e.Method, e.Path, e.Status, e.Body)
}

// Do sends method to path (from the root: "/v1/messages") with body as
// JSON when body is not nil, and decodes the JSON answer into out when out
// is not nil. An answer of 300 or more is an error that names the method,
// the path, the status code and the answer's body (its concrete type is
// unexported). ctx bounds the request.
func (c *APIClient) Do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		e := &apiError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(b))}
		var eb struct {
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
			Code string `json:"code"`
		}
		if json.Unmarshal(b, &eb) == nil {
			e.Code = eb.Error.Code
			if e.Code == "" {
				e.Code = eb.Code
			}
		}
		return e
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}

func getJSON(ctx context.Context, hc *http.Client, url string, out any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, bytes.TrimSpace(b))
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func postJSON(ctx context.Context, hc *http.Client, url string, body, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: %s: %s", url, resp.Status, bytes.TrimSpace(rb))
	}
	if out != nil {
		return json.Unmarshal(rb, out)
	}
	return nil
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// The API's JSON, as far as the bench reads it.

type workspaceJSON struct {
	ID    string `json:"id"`
	Token string `json:"token"`
}

type sendJSON struct {
	ID       string `json:"id"`
	Status   string `json:"status"`
	Segments int    `json:"segments"`
	From     string `json:"from"`
}

type statusAtJSON struct {
	Status string    `json:"status"`
	At     time.Time `json:"at"`
}

type messageJSON struct {
	ID            string         `json:"id"`
	ThreadID      string         `json:"thread_id"`
	Direction     string         `json:"direction"`
	From          string         `json:"from"`
	To            string         `json:"to"`
	Text          string         `json:"text"`
	Segments      int            `json:"segments"`
	Status        string         `json:"status"`
	CreatedAt     time.Time      `json:"created_at"`
	StatusHistory []statusAtJSON `json:"status_history"`
	Attempts      int            `json:"attempts"`
}

// at returns when the message reached a status, or the zero time.
func (m *messageJSON) at(status string) time.Time {
	for _, s := range m.StatusHistory {
		if s.Status == status {
			return s.At
		}
	}
	return time.Time{}
}

type threadJSON struct {
	ID      string `json:"id"`
	Contact string `json:"contact"`
	Number  string `json:"number"`
}

// finalStatus reports whether an outbound status is final.
func finalStatus(s string) bool {
	switch s {
	case "delivered", "failed", "expired", "rejected":
		return true
	}
	return false
}

// setupWorkspace creates a workspace with the SMS add-on, adds its numbers
// as dedicated numbers of a rate class, connects them, and returns a
// client with the workspace's token.
func setupWorkspace(ctx context.Context, op *APIClient, name, carrier string, numbers []string, class func(i int) string) (*APIClient, error) {
	var ws workspaceJSON
	if err := op.Do(ctx, "POST", "/admin/v1/workspaces", map[string]any{"name": name, "sms_addon": true}, &ws); err != nil {
		var ae *apiError
		if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %v", ErrNoAPI, err)
		}
		return nil, fmt.Errorf("creating the workspace: %w", err)
	}
	if ws.Token == "" {
		return nil, fmt.Errorf("POST /admin/v1/workspaces returned no token")
	}
	wc := op.with(ws.Token)
	for i, n := range numbers {
		body := map[string]any{"number": n, "kind": "dedicated", "workspace": ws.ID, "carrier": carrier}
		if c := class(i); c != "" {
			body["class"] = c
		}
		if err := op.Do(ctx, "POST", "/admin/v1/numbers", body, nil); err != nil {
			return nil, fmt.Errorf("adding number %s: %w", n, err)
		}
		if err := wc.Do(ctx, "PUT", "/v1/sms/number", map[string]any{"number": n}, nil); err != nil {
			return nil, fmt.Errorf("connecting number %s: %w", n, err)
		}
	}
	return wc, nil
}

// getMessages fetches messages by id, conc at a time.
func getMessages(ctx context.Context, c *APIClient, ids []string, conc int) (map[string]*messageJSON, []error) {
	out := make(map[string]*messageJSON, len(ids))
	var mu sync.Mutex
	var errs []error
	next := make(chan string)
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range next {
				var m messageJSON
				err := c.Do(ctx, "GET", "/v1/messages/"+id, nil, &m)
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else {
					out[id] = &m
				}
				mu.Unlock()
			}
		}()
	}
	for _, id := range ids {
		select {
		case next <- id:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
	return out, errs
}

// inboundTexts lists every thread of the workspace and returns the texts
// of its inbound messages (the thread each is in, by text).
func inboundTexts(ctx context.Context, c *APIClient) (map[string]string, error) {
	var threads []threadJSON
	cursor := ""
	for {
		var page struct {
			Threads    []threadJSON `json:"threads"`
			NextCursor *string      `json:"next_cursor"`
		}
		path := "/v1/threads?limit=500"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		if err := c.Do(ctx, "GET", path, nil, &page); err != nil {
			return nil, err
		}
		threads = append(threads, page.Threads...)
		if page.NextCursor == nil || *page.NextCursor == "" {
			break
		}
		cursor = *page.NextCursor
	}
	out := map[string]string{}
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, th := range threads {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cur := ""
			for {
				var page struct {
					Messages   []messageJSON `json:"messages"`
					NextCursor *string       `json:"next_cursor"`
				}
				path := "/v1/threads/" + th.ID + "/messages?limit=500"
				if cur != "" {
					path += "&cursor=" + cur
				}
				if err := c.Do(ctx, "GET", path, nil, &page); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
				mu.Lock()
				for _, m := range page.Messages {
					if m.Direction == "in" {
						out[m.Text] = th.ID
					}
				}
				mu.Unlock()
				if page.NextCursor == nil || *page.NextCursor == "" {
					return
				}
				cur = *page.NextCursor
			}
		}()
	}
	wg.Wait()
	return out, firstErr
}

// event is one server-sent event of GET /v1/events.
type event struct {
	Kind string
	Data eventJSON
	At   time.Time // when the bench read it
}

type eventJSON struct {
	ID        string    `json:"id"`
	Direction string    `json:"direction"`
	Text      string    `json:"text"`
	Status    string    `json:"status"`
	StatusAt  time.Time `json:"status_at"`
}

// streamEvents follows GET /v1/events until ctx ends, reconnecting with
// Last-Event-ID, and calls f for every message event (from the stream's
// goroutine). ready is closed once the first connection is open.
func streamEvents(ctx context.Context, c *APIClient, f func(event), ready chan<- struct{}) {
	hc := &http.Client{Transport: apiTransport} // no timeout: the stream is long
	last := ""
	once := sync.Once{}
	signal := func() { once.Do(func() { close(ready) }) }
	defer signal()
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+c.token)
		req.Header.Set("Accept", "text/event-stream")
		if last != "" {
			req.Header.Set("Last-Event-ID", last)
		}
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			if resp != nil {
				resp.Body.Close()
			}
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		var id, kind string
		var data []byte
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if kind == "ready" {
					signal()
				}
				if kind == "message.status" || kind == "message.received" {
					var d eventJSON
					if json.Unmarshal(data, &d) == nil {
						f(event{Kind: kind, Data: d, At: time.Now()})
					}
				}
				if id != "" {
					last = id
				}
				id, kind, data = "", "", nil
			case strings.HasPrefix(line, "id:"):
				id = strings.TrimSpace(line[3:])
			case strings.HasPrefix(line, "event:"):
				kind = strings.TrimSpace(line[6:])
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(line[5:], " ")...)
			}
		}
		resp.Body.Close()
	}
}
