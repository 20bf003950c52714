package smpptest

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Child is the running test binary started again as a child process that
// serves a fake SMSC (ServeChild), so that a benchmark can tell the CPU
// time of the SMSC from its own. Its methods are for the goroutine that
// started it.
type Child struct {
	// Addr is where the child's SMSC listens.
	Addr  string
	stdin io.WriteCloser
	out   *bufio.Scanner
}

// StartChild runs os.Args[0] (the test binary) with no test selected and
// env added to the environment: the child's TestMain must see that
// environment and call ServeChild. It returns once the child printed its
// address, and stops the child when the test ends (killing it if it has
// not exited 5 s after its standard input closed).
func StartChild(tb testing.TB, env ...string) *Child {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ch := &Child{stdin: stdin, out: bufio.NewScanner(stdout)}
	ch.Addr = ch.line(tb, "ADDR ")
	return ch
}

func (ch *Child) line(tb testing.TB, prefix string) string {
	tb.Helper()
	for ch.out.Scan() {
		if s, ok := strings.CutPrefix(ch.out.Text(), prefix); ok {
			return s
		}
	}
	tb.Fatalf("child SMSC: no %q line (%v)", prefix, ch.out.Err())
	return ""
}

// CPU returns the CPU time (nanoseconds) the child has used so far.
func (ch *Child) CPU(tb testing.TB) int64 {
	tb.Helper()
	if _, err := io.WriteString(ch.stdin, "cpu\n"); err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.ParseInt(ch.line(tb, "CPU "), 10, 64)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// ServeChild is the child's side of StartChild, for its TestMain once the
// SMSC listens on addr: it prints "ADDR addr", answers each line "cpu" on
// standard input with "CPU <ns>" (ProcessCPU), and returns when standard
// input closes.
func ServeChild(addr string) {
	fmt.Printf("ADDR %s\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() == "cpu" {
			ns, _ := ProcessCPU()
			fmt.Printf("CPU %d\n", ns)
		}
	}
}

// CheckLeaks is for a TestMain after m.Run returned code: when code is 0,
// it waits up to 5 s for the goroutines running code of the packages pkgs
// (import paths) to end, and when some remain prints their stacks and
// returns 1. Otherwise it returns code.
func CheckLeaks(code int, pkgs ...string) int {
	if code != 0 {
		return code
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		leaked := LeakedGoroutines(pkgs...)
		if len(leaked) == 0 {
			return code
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "%d goroutines leaked:\n\n%s\n", len(leaked), strings.Join(leaked, "\n\n"))
			return 1
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// LeakedGoroutines returns the stacks of the goroutines, other than the
// caller's, running code of the packages pkgs (import paths: a frame
// "pkg.Func" or "pkg.(*T).Method").
func LeakedGoroutines(pkgs ...string) []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	// The first stack is the calling goroutine's.
	for _, g := range strings.Split(string(buf), "\n\n")[1:] {
		for _, p := range pkgs {
			if strings.Contains(g, p+".") {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
