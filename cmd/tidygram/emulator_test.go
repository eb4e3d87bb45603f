package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tidygram/tidygram/bottest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// syncBuf is a bytes.Buffer safe for a writer and a reader goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// field returns the value printed after "name:" in the emulator banner.
func field(banner, name string) string {
	for _, line := range strings.Split(banner, "\n") {
		if v, ok := strings.CutPrefix(line, name+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// checkServing calls getMe and the control API on a running emulator.
func checkServing(t *testing.T, baseURL, token string) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	resp, err := c.Get(baseURL + "/bot" + token + "/getMe")
	if err != nil {
		t.Fatal(err)
	}
	var env struct {
		OK     bool `json:"ok"`
		Result struct {
			Username string `json:"username"`
		} `json:"result"`
	}
	err = json.NewDecoder(resp.Body).Decode(&env)
	resp.Body.Close()
	if err != nil || !env.OK || env.Result.Username != "tgtest_bot" {
		t.Fatalf("getMe: %+v %v", env, err)
	}
	resp, err = c.Post(baseURL+"/_tgtest/users", "application/json", strings.NewReader(`{"name":"alice"}`))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("control API: %d", resp.StatusCode)
	}
}

func TestEmulatorInProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuf
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, []string{"emulator", "--addr", "127.0.0.1:0", "--flood", "--seed", "7"}, &out, &errOut)
	}()
	bottest.Eventually(t, 20*time.Second, "the emulator's banner", func() bool { return field(out.String(), "token") != "" })
	checkServing(t, field(out.String(), "base URL"), field(out.String(), "token"))
	cancel()
	if c := <-code; c != 0 {
		t.Fatalf("exit %d, stderr %q", c, errOut.String())
	}
	if !strings.Contains(out.String(), "stopped") {
		t.Fatalf("output %q", out.String())
	}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "Commands:"},
		{[]string{"help"}, 0, "emulator"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"emulator", "-h"}, 0, "/_tgtest/counters"},
		{[]string{"emulator", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"emulator", "extra"}, 2, "unexpected arguments"},
		{[]string{"emulator", "--token", "bad"}, 1, "invalid bot token"},
	} {
		var out, errOut syncBuf
		if got := run(context.Background(), tc.args, &out, &errOut); got != tc.code {
			t.Errorf("%v: exit %d, want %d", tc.args, got, tc.code)
		}
		if all := out.String() + errOut.String(); !strings.Contains(all, tc.want) {
			t.Errorf("%v: output lacks %q:\n%s", tc.args, tc.want, all)
		}
	}
}

// TestEmulatorSIGTERM builds the command, runs it, and stops it with
// SIGTERM: it must exit 0.
func TestEmulatorSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	bin := filepath.Join(t.TempDir(), "tidygram")
	build := exec.Command("go", "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "emulator", "--addr", "127.0.0.1:0")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(stdout)
		var banner strings.Builder
		for sc.Scan() {
			banner.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "control:") {
				break
			}
		}
		checkServing(t, field(banner.String(), "base URL"), field(banner.String(), "token"))
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: exit: %v", sig, err)
		}
		if !strings.Contains(string(rest), "stopped") {
			t.Fatalf("%v: output after signal %q", sig, rest)
		}
	}
}
