package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// engineProfile is a CPU profile of a started engine process being taken
// over the first part of a measured run (Scenario.Engine.Profile).
type engineProfile struct {
	path string
	done chan struct{}
	err  error
}

// startProfile asks the engine at addr (its http.pprof_listen) for a CPU
// profile of d and writes it to path when it arrives. It returns nil when
// no profile was asked for.
func startProfile(ctx context.Context, addr string, d time.Duration, path string) *engineProfile {
	if addr == "" || d <= 0 {
		return nil
	}
	p := &engineProfile{path: path, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = fetchProfile(ctx, addr, d, path)
	}()
	return p
}

func fetchProfile(ctx context.Context, addr string, d time.Duration, path string) error {
	secs := max(1, int(d.Round(time.Second)/time.Second))
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// wait waits for the profile and says in rep where it is, or why there is
// none.
func (p *engineProfile) wait(rep *Report) {
	if p == nil {
		return
	}
	<-p.done
	if p.err != nil {
		rep.Notes = append(rep.Notes, "engine CPU profile: not taken: "+p.err.Error())
		return
	}
	rep.Notes = append(rep.Notes, "engine CPU profile (first process): "+p.path+" (go tool pprof -top "+p.path+")")
}
