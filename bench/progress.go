package bench

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Progress shows a run's progress: on a terminal, one line redrawn in place
// with a bar, the rate and the time left; elsewhere (a log, CI), a plain
// line every few seconds. The work is counted in units (messages, points);
// Add counts done units from any goroutine. Phase names what is happening.
//
// A nil *Progress does nothing, so scenarios need not check for --quiet.
type Progress struct {
	w     io.Writer
	tty   bool
	every time.Duration

	total atomic.Int64
	done  atomic.Int64
	unit  string

	mu        sync.Mutex
	phase     string
	start     time.Time
	lastDone  int64
	lastAt    time.Time
	rate      float64 // smoothed units/s
	lastWidth int
	stop      chan struct{}
	stopped   chan struct{}
}

// IsTerminal reports whether f is a terminal (a character device).
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// NewProgress starts showing progress on w; tty chooses the redrawn line.
// Stop it with Done.
func NewProgress(w io.Writer, tty bool) *Progress {
	p := &Progress{w: w, tty: tty, every: 5 * time.Second, start: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	if tty {
		p.every = 200 * time.Millisecond
	}
	p.lastAt = p.start
	go p.loop()
	return p
}

// Start begins a phase of total units.
func (p *Progress) Start(phase string, total int64, unit string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	p.phase, p.unit = phase, unit
	p.start, p.lastAt, p.lastDone, p.rate = time.Now(), time.Now(), 0, 0
	p.total.Store(total)
	p.done.Store(0)
	p.mu.Unlock()
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %s\n", time.Now().Format("15:04:05"), phase)
	}
}

// Add counts n more units done.
func (p *Progress) Add(n int64) {
	if p != nil {
		p.done.Add(n)
	}
}

// Note prints a line of its own (above the bar on a terminal).
func (p *Progress) Note(format string, args ...any) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty {
		p.clearLocked()
	}
	fmt.Fprintf(p.w, format+"\n", args...)
}

// Done stops the display and clears the bar.
func (p *Progress) Done() {
	if p == nil {
		return
	}
	close(p.stop)
	<-p.stopped
	p.mu.Lock()
	if p.tty {
		p.clearLocked()
	}
	p.mu.Unlock()
}

func (p *Progress) loop() {
	defer close(p.stopped)
	t := time.NewTicker(p.every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw()
		}
	}
}

func (p *Progress) clearLocked() {
	if p.lastWidth > 0 {
		fmt.Fprintf(p.w, "\r%s\r", strings.Repeat(" ", p.lastWidth))
		p.lastWidth = 0
	}
}

func (p *Progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.phase == "" {
		return
	}
	now := time.Now()
	done, total := p.done.Load(), p.total.Load()
	if dt := now.Sub(p.lastAt).Seconds(); dt > 0 {
		inst := float64(done-p.lastDone) / dt
		if p.rate == 0 {
			p.rate = inst
		} else {
			p.rate = 0.7*p.rate + 0.3*inst
		}
	}
	p.lastDone, p.lastAt = done, now
	line := progressLine(p.phase, done, total, p.unit, p.rate, now.Sub(p.start))
	if p.tty {
		pad := ""
		if n := p.lastWidth - len([]rune(line)); n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.w, "\r%s%s", line, pad)
		p.lastWidth = len([]rune(line))
		return
	}
	fmt.Fprintf(p.w, "%s: %s\n", now.Format("15:04:05"), line)
}

// progressLine formats one progress line: "phase [=====>    ] 45% 1234/2700
// msgs 812/s ETA 2s".
func progressLine(phase string, done, total int64, unit string, rate float64, elapsed time.Duration) string {
	const width = 24
	if total <= 0 {
		return fmt.Sprintf("%s %d %s %.0f/s %s", phase, done, unit, rate, elapsed.Round(time.Second))
	}
	frac := min(1, float64(done)/float64(total))
	fill := int(frac * width)
	bar := strings.Repeat("=", fill)
	if fill < width {
		bar += ">" + strings.Repeat(" ", width-fill-1)
	}
	eta := "--"
	if rate > 0 && done < total {
		eta = (time.Duration(float64(total-done) / rate * float64(time.Second))).Round(time.Second).String()
	} else if done >= total {
		eta = "0s"
	}
	return fmt.Sprintf("%s [%s] %3.0f%% %d/%d %s %.0f/s ETA %s", phase, bar, 100*frac, done, total, unit, rate, eta)
}
