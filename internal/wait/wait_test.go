package wait

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

func TestUntilHoldsAtOnce(t *testing.T) {
	calls := 0
	begin := time.Now()
	Until(t, time.Minute, "a condition that holds", func() bool { calls++; return true })
	if calls != 1 || time.Since(begin) > 10*time.Second {
		t.Fatalf("%d calls in %v, want 1 at once", calls, time.Since(begin))
	}
}

func TestUntilPolls(t *testing.T) {
	n := 0
	Until(t, 10*time.Second, "three calls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Fatalf("%d calls, want 3", n)
	}
}

// fakeTB records Fatalf and ends the goroutine, as testing.T does.
type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = format
	runtime.Goexit()
}

func TestUntilFailsAfterTimeout(t *testing.T) {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	begin := time.Now()
	go func() {
		defer close(done)
		Until(f, 20*time.Millisecond, "never", func() bool { return false })
	}()
	<-done
	if f.msg == "" {
		t.Fatal("Until returned without failing the test")
	}
	if took := time.Since(begin); took < 20*time.Millisecond {
		t.Fatalf("failed after %v, before the 20 ms timeout", took)
	}
}

func TestForTimeout(t *testing.T) {
	begin := time.Now()
	if For(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("For reported true for a condition that never held")
	}
	if took := time.Since(begin); took < 20*time.Millisecond {
		t.Fatalf("returned after %v, before the 20 ms timeout", took)
	}
	if !For(0, func() bool { return true }) {
		t.Fatal("a condition true at once is true with no time left")
	}
}

func TestContext(t *testing.T) {
	if err := Context(context.Background(), func() bool { t.Fatal("called"); return true }); !errors.Is(err, ErrNoDeadline) {
		t.Fatalf("no deadline: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	n := 0
	if err := Context(ctx, func() bool { n++; return n == 3 }); err != nil {
		t.Fatalf("holds on the third call: %v", err)
	}
	cancel()
	if err := Context(ctx, func() bool { return false }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := Context(short, func() bool { return false }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("past the deadline: %v", err)
	}
}
