package jetstream

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/spool"
)

const childEnv = "TIDYGRAM_JETSTREAM_CRASH_CHILD"

const (
	crashPartitions = 8
	crashChats      = 13
	crashTTL        = time.Second
)

// crashChild is the process TestCrash kills: an embedded spool in dir
// that puts updates (printing "put <id>" once Put returned nil, and
// putting every tenth one twice) and consumes them, printing
// "handled <id>" before each Done(true). It never ends by itself before
// a minute.
func crashChild(dir string) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Open(ctx, Embedded(dir), Partitions(crashPartitions), Instance("child"), LeaseTTL(crashTTL), MaxInHand(300))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	var out sync.Mutex
	say := func(format string, args ...any) {
		out.Lock()
		defer out.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // unbuffered: in the pipe before the next step
	}
	// Two workers at about 3 ms an update: a backlog builds up, and up
	// to MaxInHand updates are in hand when the kill comes.
	work := make(chan *spool.Delivery, 64)
	for range 2 {
		go func() {
			for d := range work {
				time.Sleep(3 * time.Millisecond)
				say("handled %d", d.Update.UpdateID)
				d.Done(true)
			}
		}()
	}
	go s.Consume(ctx, func(ctx context.Context, d *spool.Delivery) error {
		select {
		case work <- d:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	seq := map[int64]int64{}
	for i := int64(1); i <= 20_000 && ctx.Err() == nil; i++ {
		chat := 1 + i%crashChats
		seq[chat]++
		u := update(i, chat, seq[chat])
		if err := s.Put(ctx, u); err != nil {
			continue
		}
		say("put %d", i)
		if i%10 == 0 {
			_ = s.Put(ctx, u) // a duplicate: stored once
		}
	}
	<-ctx.Done()
	return 0
}

// TestCrash kills (SIGKILL) a process that puts and consumes with an
// embedded server mid-run, reopens its directory and checks that every
// update whose Put returned nil is handled: by the child before the kill
// or delivered now (0 lost), that updates the child may have handled
// come flagged Redelivered, and per-chat order.
func TestCrash(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	put, handled := map[int64]bool{}, map[int64]bool{}
	lines := make(chan struct{}, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			what, n, ok := strings.Cut(sc.Text(), " ")
			id, err := strconv.ParseInt(n, 10, 64)
			if !ok || err != nil {
				continue
			}
			mu.Lock()
			switch what {
			case "put":
				put[id] = true
			case "handled":
				handled[id] = true
			}
			mu.Unlock()
			select {
			case lines <- struct{}{}:
			default:
			}
		}
	}()
	killed := false
	deadline := time.After(40 * time.Second)
	for !killed {
		select {
		case <-lines:
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("the child put and handled too little within 40 s")
		}
		mu.Lock()
		ready := len(put) >= 1500 && len(handled) >= 300
		mu.Unlock()
		if ready {
			if err := cmd.Process.Kill(); err != nil { // SIGKILL
				t.Fatal(err)
			}
			killed = true
		}
	}
	cmd.Wait()
	<-scanned
	mu.Lock()
	defer mu.Unlock()

	s := open(t, Embedded(dir), Partitions(crashPartitions), Instance("parent"), LeaseTTL(crashTTL))
	sent := sentinels(crashPartitions, 1_000_000)
	putAll(t, s, sent...)
	r := newRecorder(nil)
	stop := consume(t, s, r.deliver("parent"))
	// The child's leases expire within crashTTL; then every partition is
	// read to its sentinel.
	wait.Until(t, 30*time.Second, "every partition read to its sentinel", func() bool { return r.has(ids(sent)...) })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	all := r.snapshot()
	delivered := map[int64]got{}
	dups := 0
	for _, g := range all {
		if g.id >= 1_000_000 {
			continue
		}
		if _, twice := delivered[g.id]; twice {
			t.Errorf("update %d delivered twice after the restart", g.id)
		}
		delivered[g.id] = g
		if handled[g.id] {
			dups++
			if !g.redelivered {
				t.Errorf("update %d handled by the child comes again without Redelivered", g.id)
			}
		}
	}
	lost := 0
	for id := range put {
		if !handled[id] && delivered[id].id == 0 {
			lost++
			if lost <= 10 {
				t.Errorf("update %d: Put returned nil, never handled", id)
			}
		}
	}
	checkOrder(t, all)
	t.Logf("child: %d puts acknowledged, %d handled before SIGKILL; after reopen: %d delivered, %d of them handled before (flagged Redelivered), %d lost",
		len(put), len(handled), len(delivered), dups, lost)
	if lost > 0 {
		t.Fatalf("%d updates lost", lost)
	}
}
