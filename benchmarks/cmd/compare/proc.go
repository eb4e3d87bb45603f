package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// child is a process this binary started: one library's bot, or the fake
// Bot API server, each in its own process so that its CPU time, RSS and
// goroutines are its own. The parent owns it: close kills it if it still
// runs and waits for it and for the goroutine reading its output.
type child struct {
	name   string // for errors: "tidygram poll", "fakeapi"
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan event
	stderr *tail
	exited chan struct{} // closed when the process was reaped
	state  *os.ProcessState
	once   sync.Once
}

// tail keeps the last bytes written to it (a child's stderr, for errors).
type tail struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// startChild starts a library's bot described by spec.
func startChild(spec childSpec) (*child, error) {
	return startProc(spec.Lib+" "+spec.Mode, childEnv, spec)
}

// startProc re-executes this binary with env set to arg in JSON, which
// makes it run that child (see main) instead of the comparison.
func startProc(name, env string, arg any) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(arg)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), env+"="+string(raw))
	c := &child{name: name, cmd: cmd, events: make(chan event, 16), stderr: &tail{max: 8 << 10}, exited: make(chan struct{})}
	cmd.Stderr = c.stderr
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 64<<20)
		for sc.Scan() {
			var e event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				c.events <- e
			}
		}
		cmd.Wait() // after stdout is drained, as exec requires
		c.state = cmd.ProcessState
		close(c.events)
		close(c.exited)
	}()
	return c, nil
}

// errExited is returned when a child ended before the awaited event.
var errExited = errors.New("child exited")

// next returns the next event named ev, skipping others, or fails when
// ctx ends, after timeout or when the child exits.
func (c *child) next(ctx context.Context, ev string, timeout time.Duration) (event, error) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case e, ok := <-c.events:
			if !ok {
				return event{}, fmt.Errorf("%s: %w (%v) waiting for %q; stderr: %s", c.name, errExited, c.state, ev, c.stderr)
			}
			if e.Ev == ev {
				return e, nil
			}
			if e.Ev == "error" || (e.Ev == "ended" && ev != "ended") {
				return e, fmt.Errorf("%s: %s: %s; stderr: %s", c.name, e.Ev, e.Err, c.stderr)
			}
		case <-t.C:
			return event{}, fmt.Errorf("%s: no %q within %v; stderr: %s", c.name, ev, timeout, c.stderr)
		case <-ctx.Done():
			return event{}, fmt.Errorf("%s: waiting for %q: %w", c.name, ev, ctx.Err())
		}
	}
}

// ask sends a command and returns the event it answers with (as next).
func (c *child) ask(ctx context.Context, cmd, ev string, timeout time.Duration) (event, error) {
	if _, err := io.WriteString(c.stdin, cmd+"\n"); err != nil {
		return event{}, fmt.Errorf("%s: %s: %w", c.name, cmd, err)
	}
	return c.next(ctx, ev, timeout)
}

// close ends the child (exit command, then SIGKILL after grace) and waits for it.
func (c *child) close() { c.end(2 * time.Second) }

// kill ends the child at once (a crash) and waits for it.
func (c *child) kill() { c.end(0) }

func (c *child) end(grace time.Duration) {
	c.once.Do(func() {
		if grace > 0 {
			io.WriteString(c.stdin, "exit\n")
		} else {
			c.cmd.Process.Kill()
		}
		c.stdin.Close()
		t := time.NewTimer(grace)
		defer t.Stop()
		for {
			select {
			case _, ok := <-c.events: // drain so the reader reaches Wait
				if !ok {
					<-c.exited
					return
				}
			case <-t.C:
				c.cmd.Process.Kill()
			}
		}
	})
}
