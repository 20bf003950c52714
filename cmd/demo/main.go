// Command demo runs Switchboard end to end on this machine, as `make demo`
// does: the carrier simulator and the engine as processes, a workspace with
// the SMS add-on and a dedicated number, a few messages out (one long, one
// with emoji), receipts and a reply from the "handset", and the resulting
// thread printed with each message's status. It calls the engine's API
// with package bench's client (bench.APIClient, bench.WaitReady), as
// smppbench does.
//
// It needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL; scripts/services.sh
// up starts them) and the binaries in --bin (make build).
//
// It cleans up after itself: on SIGINT, SIGTERM or SIGHUP, and when its
// parent dies (make, a shell, a terminal that closed), it stops the engine
// and the simulator it started; and were it killed outright, they get
// SIGTERM from the kernel (Linux's parent-death signal, procattr_linux.go).
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/switchboard-sms/switchboard/bench"
)

const (
	ourNumber = "+14155550100"
	contact   = "+447911123456"
	operator  = "demo-operator-token-0123456789"
)

func main() {
	bin := flag.String("bin", "bin", "directory holding the switchboard and smscsim binaries")
	keep := flag.Bool("keep", false, "keep the engine and simulator running until Ctrl-C")
	dbName := flag.String("db-name", "switchboard_demo", "the database the demo creates afresh (on DATABASE_URL's server)")
	prefix := flag.String("redis-prefix", "sbdemo:", "the prefix of the demo's Redis keys (cleared at the start)")
	flag.Parse()
	// SIGTERM when the parent dies, caught below like any other SIGTERM.
	if err := dieWithParent(); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
	if err := run(*bin, *keep, *dbName, *prefix); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func step(format string, args ...any) { fmt.Printf("==> "+format+"\n", args...) }

func run(bin string, keep bool, dbName, prefix string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	dir, err := os.MkdirTemp("", "switchboard-demo-")
	if err != nil {
		return err
	}
	// A database of its own, made afresh each run.
	dbURL, err := freshDatabase(ctx, env("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"), dbName)
	if err != nil {
		return err
	}
	redisURL := env("REDIS_URL", "redis://127.0.0.1:6379/0")
	if err := clearRedis(ctx, redisURL, prefix); err != nil {
		return err
	}

	smscPort, statsPort, httpPort := freePort(), freePort(), freePort()
	step("starting the carrier simulator (smscsim) on 127.0.0.1:%d", smscPort)
	sim, err := start(ctx, filepath.Join(bin, "smscsim"), nil, filepath.Join(dir, "smscsim.log"),
		"--listen", fmt.Sprintf("127.0.0.1:%d", smscPort), "--system-id", "switchboard", "--password", "demo",
		"--stats", fmt.Sprintf("127.0.0.1:%d", statsPort), "--latency", "5ms..40ms",
		"--receipt-delay", "300ms..1200ms", "--numbers", ourNumber, "--report", filepath.Join(dir, "smscsim-report.json"))
	if err != nil {
		return err
	}
	defer sim.stop()

	cfgPath := filepath.Join(dir, "switchboard.yaml")
	cfg := fmt.Sprintf(`http: {listen: "127.0.0.1:%d"}
log: {level: warn}
postgres: {url: %q}
redis: {url: %q, prefix: %q}
rate_classes:
  - {name: shared, rate: 1}
  - {name: dedicated, rate: 10}
carriers:
  - {name: sim, host: 127.0.0.1, port: %d, system_id: switchboard, password_env: DEMO_SMSC_PASSWORD,
     binds: 2, window: 50, tps: 100, long_message: udh8}
`, httpPort, dbURL, redisURL, prefix, smscPort)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	engineEnv := []string{"DEMO_SMSC_PASSWORD=demo", "SWITCHBOARD_OPERATOR_TOKEN=" + operator}
	sb := filepath.Join(bin, "switchboard")
	step("creating a workspace with the SMS add-on and a dedicated number %s", ourNumber)
	out, err := capture(ctx, sb, engineEnv, "workspace", "create", "--config", cfgPath, "--name", "Acme Dental", "--sms-addon")
	if err != nil {
		return err
	}
	token := regexp.MustCompile(`API token \(shown once\): (\S+)`).FindStringSubmatch(out)
	wsID := regexp.MustCompile(`workspace (\d+)`).FindStringSubmatch(out)
	if token == nil || wsID == nil {
		return fmt.Errorf("unexpected output of workspace create: %q", out)
	}
	if _, err := capture(ctx, sb, engineEnv, "number", "add", "--config", cfgPath, "--number", ourNumber,
		"--kind", "dedicated", "--workspace", wsID[1], "--carrier", "sim"); err != nil {
		return err
	}
	step("starting the engine (switchboard serve) with its API on 127.0.0.1:%d", httpPort)
	eng, err := start(ctx, sb, engineEnv, filepath.Join(dir, "switchboard.log"), "serve", "--config", cfgPath)
	if err != nil {
		return err
	}
	defer eng.stop()
	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	api := bench.NewAPIClient(base, token[1])
	if err := bench.WaitReady(ctx, base); err != nil {
		return fmt.Errorf("%w\nengine log:\n%s", err, tail(filepath.Join(dir, "switchboard.log")))
	}

	step("Settings → SMS → Configure: connect %s", ourNumber)
	if err := api.Do(ctx, "PUT", "/v1/sms/number", map[string]any{"number": ourNumber}, nil); err != nil {
		return err
	}
	var sms struct {
		Addon   bool    `json:"addon"`
		Number  *string `json:"number"`
		State   string  `json:"state"`
		Numbers []struct {
			Number  string `json:"number"`
			Sending *struct {
				RateClass string   `json:"rate_class"`
				Rate      *float64 `json:"rate"`
			} `json:"sending"`
		} `json:"numbers"`
	}
	if err := api.Do(ctx, "GET", "/v1/sms", nil, &sms); err != nil {
		return err
	}
	if sms.Number == nil {
		return fmt.Errorf("GET /v1/sms: no number connected (state %s)", sms.State)
	}
	fmt.Printf("    SMS add-on %v, number %s %s", sms.Addon, *sms.Number, sms.State)
	for _, n := range sms.Numbers {
		if n.Number == *sms.Number && n.Sending != nil && n.Sending.Rate != nil {
			fmt.Printf(", rate class %s at %g segments/s", n.Sending.RateClass, *n.Sending.Rate)
		}
	}
	fmt.Println()

	texts := []string{
		"Hi Sam, this is Acme Dental: your appointment is confirmed for Tuesday at 10:00.",
		strings.Repeat("Please arrive ten minutes early and bring your insurance card; if you need to reschedule, reply to this message. ", 3),
		"See you soon! 😀🦷",
	}
	var ids []string
	for _, text := range texts {
		var resp struct {
			ID       any    `json:"id"`
			Segments int    `json:"segments"`
			Encoding string `json:"encoding"`
		}
		if err := api.Do(ctx, "POST", "/v1/messages", map[string]any{"to": contact, "text": text}, &resp); err != nil {
			return err
		}
		id := fmt.Sprint(resp.ID)
		ids = append(ids, id)
		step("sent message %s: %d characters, %s, %d segment(s)", id, len([]rune(text)), resp.Encoding, resp.Segments)
	}
	step("waiting for the carrier's delivery receipts")
	for _, id := range ids {
		if err := waitStatus(ctx, api, id, "delivered"); err != nil {
			return err
		}
	}
	step("the contact replies from the handset")
	mo, _ := json.Marshal(map[string]string{"from": contact, "to": ourNumber, "text": "Thanks! Could we make it 11:00 instead?"})
	resp, err := http.Post(fmt.Sprintf("http://127.0.0.1:%d/mo", statsPort), "application/json", bytes.NewReader(mo))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("injecting the reply: %s", resp.Status)
	}
	if err := printThread(ctx, api); err != nil {
		return err
	}
	fmt.Printf("\nLogs and the simulator's report are in %s\n", dir)
	if keep {
		fmt.Printf("\nStill running: API http://127.0.0.1:%d (token %s), simulator stats http://127.0.0.1:%d/stats\n"+
			"(engine pid %d, simulator pid %d).\n"+
			"The web console is http://127.0.0.1:%d/console/: sign in with the token.\nPress Ctrl-C to stop.\n",
			httpPort, token[1], statsPort, eng.cmd.Process.Pid, sim.cmd.Process.Pid, httpPort)
		<-ctx.Done()
	} else {
		fmt.Println("\nDone. To keep the engine running and play with the API and the web console: make demo DEMO_KEEP=1")
	}
	return nil
}

func freshDatabase(ctx context.Context, adminURL, name string) (string, error) {
	c, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return "", fmt.Errorf("PostgreSQL at DATABASE_URL does not answer (run scripts/services.sh up): %w", err)
	}
	defer c.Close(ctx)
	if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return "", err
	}
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func clearRedis(ctx context.Context, redisURL, prefix string) error {
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		return err
	}
	r := redis.NewClient(opt)
	defer r.Close()
	iter := r.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		r.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return fmt.Errorf("Redis at REDIS_URL does not answer (run scripts/services.sh up): %w", err)
	}
	return nil
}

type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func start(ctx context.Context, path string, env []string, logPath string, args ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childAttr() // SIGTERM to it should this process die
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w (run make build)", path, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); logf.Close(); close(p.done) }()
	return p, nil
}

// stop sends SIGTERM and waits for the process to end (SIGKILL after 15 s).
func (p *proc) stop() {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

func capture(ctx context.Context, path string, env []string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w\n%s", filepath.Base(path), strings.Join(args[:2], " "), err, out)
	}
	return string(out), nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func waitStatus(ctx context.Context, api *bench.APIClient, id, want string) error {
	deadline := time.Now().Add(30 * time.Second)
	var m struct {
		Status string `json:"status"`
	}
	for time.Now().Before(deadline) {
		if err := api.Do(ctx, "GET", "/v1/messages/"+id, nil, &m); err != nil {
			return err
		}
		if m.Status == want {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("message %s is %q after 30 s, want %q", id, m.Status, want)
}

// printThread waits for the reply and prints the conversation.
func printThread(ctx context.Context, api *bench.APIClient) error {
	type message struct {
		Direction string `json:"direction"`
		Text      string `json:"text"`
		Body      string `json:"body"`
		Status    string `json:"status"`
		Segments  int    `json:"segments"`
		CreatedAt string `json:"created_at"`
	}
	var threads struct {
		Threads []struct {
			ID      any    `json:"id"`
			Contact string `json:"contact"`
			Channel string `json:"channel"`
		} `json:"threads"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := api.Do(ctx, "GET", "/v1/threads", nil, &threads); err != nil {
			return err
		}
		if len(threads.Threads) > 0 {
			var page struct {
				Messages []message `json:"messages"`
			}
			th := threads.Threads[0]
			if err := api.Do(ctx, "GET", fmt.Sprintf("/v1/threads/%v/messages", th.ID), nil, &page); err != nil {
				return err
			}
			if n := len(page.Messages); n > 0 && page.Messages[n-1].Direction == "in" {
				fmt.Printf("\n┌ thread %v · channel %s · %s ↔ %s\n", th.ID, th.Channel, ourNumber, th.Contact)
				for _, m := range page.Messages {
					text := m.Text
					if text == "" {
						text = m.Body
					}
					arrow := "→"
					if m.Direction == "in" {
						arrow = "←"
					}
					sc := bufio.NewScanner(strings.NewReader(wrap(text, 70)))
					first := true
					for sc.Scan() {
						if first {
							fmt.Printf("│ %s %-70s  %s\n", arrow, sc.Text(), m.Status)
							first = false
						} else {
							fmt.Printf("│   %s\n", sc.Text())
						}
					}
				}
				fmt.Println("└")
				return nil
			}
		}
		if time.Now().After(deadline) {
			return errors.New("the reply did not reach the thread within 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func wrap(s string, width int) string {
	var b strings.Builder
	line := 0
	for _, w := range strings.Fields(s) {
		n := len([]rune(w))
		if line > 0 && line+1+n > width {
			b.WriteByte('\n')
			line = 0
		} else if line > 0 {
			b.WriteByte(' ')
			line++
		}
		b.WriteString(w)
		line += n
	}
	return b.String()
}
