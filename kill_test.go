package tidygram_test

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/tidygram/tidygram"
)

// TestKillBotChild is the bot process of TestSIGKILLMidBatch; it runs only
// when that test starts it.
func TestKillBotChild(t *testing.T) {
	logPath := os.Getenv("TIDYGRAM_KILL_LOG")
	if logPath == "" {
		t.Skip("run by TestSIGKILLMidBatch only")
	}
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := tidygram.New(os.Getenv("TELEGRAM_TOKEN"), tidygram.WithBaseURL(os.Getenv("TELEGRAM_API_URL")),
		tidygram.WithPollTimeout(time.Second), tidygram.WithWorkers(4))
	if err != nil {
		t.Fatal(err)
	}
	b.OnText(func(c *tidygram.Context) error {
		time.Sleep(3 * time.Millisecond)
		// The side effect is recorded before the handler returns: an
		// update in this file was handled.
		_, err := f.WriteString(strconv.FormatInt(c.Update.UpdateID, 10) + "\n")
		return err
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestSIGKILLMidBatch kills a polling bot with SIGKILL while it handles a
// batch, restarts it, and checks that every update was handled at least
// once: none is lost; the duplicates (updates handled but not yet
// confirmed when the process died) are counted.
func TestSIGKILLMidBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	srv := emulator(t)
	const n = 400
	ids := make([]int64, n)
	for i := range ids {
		ids[i] = pushText(t, srv, int64(1+i%20), "m"+strconv.Itoa(i))
	}
	logPath := filepath.Join(t.TempDir(), "handled.log")
	run := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKillBotChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "TIDYGRAM_KILL_LOG="+logPath, "TELEGRAM_API_URL="+srv.URL(), "TELEGRAM_TOKEN="+srv.Token())
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	handled := func() map[int64]int {
		m := map[int64]int{}
		f, err := os.Open(logPath)
		if err != nil {
			return m
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if id, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
				m[id]++
			}
		}
		return m
	}
	first := run()
	eventually(t, 60*time.Second, "first process handled 100 updates", func() bool { return len(handled()) >= 100 })
	if err := first.Process.Kill(); err != nil { // SIGKILL: no drain, no final confirmation
		t.Fatal(err)
	}
	first.Wait()
	atKill := len(handled())
	if atKill >= n {
		t.Fatalf("the first process handled all %d updates before the kill; the test needs a kill mid-batch", n)
	}
	second := run()
	eventually(t, 60*time.Second, "every update handled after the restart", func() bool { return len(handled()) == n })
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Fatalf("restarted bot did not exit cleanly on SIGTERM: %v", err)
	}
	got := handled()
	dups := 0
	for _, id := range ids {
		if got[id] == 0 {
			t.Fatalf("update %d lost across the kill", id)
		}
		dups += got[id] - 1
	}
	if p := srv.Pending(); p != 0 {
		t.Fatalf("%d updates unconfirmed after the clean stop", p)
	}
	t.Logf("killed after %d of %d updates handled; after restart all %d handled at least once, %d handled twice (redelivered: handled but not yet confirmed at the kill)",
		atKill, n, n, dups)
}
