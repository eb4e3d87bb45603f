package jetstream_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream"
	"github.com/tidygram/tidygram/leak/leaktest"
)

// startCluster starts an n-node cluster in t.TempDir(), closed at t's
// cleanup (Close is idempotent: a test may close it earlier).
func startCluster(t testing.TB, n int, opts ...jetstream.ClusterOption) *jetstream.Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := jetstream.StartCluster(ctx, n, t.TempDir(), opts...)
	if err != nil {
		t.Fatalf("StartCluster(%d): %v", n, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return c
}

// connect connects to every node of c; closed at t's cleanup (before the
// cluster, which was started earlier).
func connect(t testing.TB, c *jetstream.Cluster) (*nats.Conn, natsjs.JetStream) {
	t.Helper()
	nc, err := nats.Connect(strings.Join(c.URLs(), ","), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// publish publishes count messages to subj, each retried through a
// leader election (bounded by ctx).
func publish(ctx context.Context, t testing.TB, js natsjs.JetStream, subj string, count int) {
	t.Helper()
	for i := range count {
		if _, err := js.Publish(ctx, subj, []byte{byte(i)}, natsjs.WithRetryAttempts(200), natsjs.WithRetryWait(50*time.Millisecond)); err != nil {
			t.Fatalf("publish %d to %s: %v", i, subj, err)
		}
	}
}

// Every node count starts, serves a stream replicated on every node, and
// is gone without a goroutine left after Close.
func TestStartCluster(t *testing.T) {
	for _, n := range []int{1, 3} {
		t.Run(map[int]string{1: "single", 3: "three"}[n], func(t *testing.T) {
			leaktest.Check(t)
			c := startCluster(t, n)
			if c.Len() != n || len(c.URLs()) != n {
				t.Fatalf("Len %d, URLs %v; want %d", c.Len(), c.URLs(), n)
			}
			names := map[string]bool{}
			for i, u := range c.URLs() {
				if !strings.HasPrefix(u, "nats://127.0.0.1:") {
					t.Errorf("node %d URL %q", i, u)
				}
				if s := c.Server(i); s == nil || s.Name() != c.NodeName(i) {
					t.Errorf("node %d: server %v, name %q", i, s, c.NodeName(i))
				}
				if !strings.HasPrefix(c.StoreDir(i), t.TempDir()) && !strings.Contains(c.StoreDir(i), c.NodeName(i)) {
					t.Errorf("node %d store %q", i, c.StoreDir(i))
				}
				names[c.NodeName(i)] = true
			}
			if len(names) != n {
				t.Errorf("server names %v are not unique", names)
			}
			_, js := connect(t, c)
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			s, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Replicas: n})
			if err != nil {
				t.Fatal(err)
			}
			publish(ctx, t, js, "s.x", 10)
			info, err := s.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.State.Msgs != 10 {
				t.Errorf("stream holds %d messages, want 10", info.State.Msgs)
			}
			if n > 1 && (info.Cluster == nil || len(info.Cluster.Replicas) != n-1) {
				t.Errorf("stream cluster %+v: want a leader and %d replicas", info.Cluster, n-1)
			}
		})
	}
}

// A node stopped abruptly: the R3 stream keeps taking writes on the other
// two; restarted on the same ports and store, the node catches up, and
// the client URLs stay the same throughout.
func TestClusterStopAndRestartNode(t *testing.T) {
	leaktest.Check(t)
	c := startCluster(t, 3)
	urls := c.URLs()
	_, js := connect(t, c)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	publish(ctx, t, js, "r3.a", 5)
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Stop the stream's leader: the hardest node to lose.
	victim := -1
	for i := range c.Len() {
		if c.NodeName(i) == info.Cluster.Leader {
			victim = i
		}
	}
	if victim < 0 {
		t.Fatalf("stream leader %q is no node of the cluster", info.Cluster.Leader)
	}
	if err := c.StopNode(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.StopNode(victim); err != nil { // stopping a stopped node does nothing
		t.Fatal(err)
	}
	if c.Server(victim) != nil {
		t.Fatal("Server of a stopped node is not nil")
	}
	publish(ctx, t, js, "r3.b", 5)
	if err := c.RestartNode(ctx, victim); err != nil {
		t.Fatal(err)
	}
	if got := c.URLs(); !equal(got, urls) {
		t.Errorf("URLs after restart %v, want %v", got, urls)
	}
	publish(ctx, t, js, "r3.c", 5)
	// The restarted node's replica catches up with all 15 messages.
	name := c.NodeName(victim)
	var last string
	caughtUp := wait.For(30*time.Second, func() bool {
		if ctx.Err() != nil {
			t.Fatal(ctx.Err())
		}
		info, err = s.Info(ctx)
		if err == nil && info.State.Msgs == 15 {
			last = replicaState(info, name)
		}
		return last == "current"
	})
	if !caughtUp {
		t.Fatalf("after the restart, %s is %q in the stream's cluster, not current: %+v", name, last, info)
	}
}

func replicaState(info *natsjs.StreamInfo, node string) string {
	if info.Cluster == nil {
		return "no cluster info"
	}
	if info.Cluster.Leader == node {
		return "current"
	}
	for _, r := range info.Cluster.Replicas {
		if r.Name == node {
			if r.Current && !r.Offline {
				return "current"
			}
			return "behind"
		}
	}
	return "absent"
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestStartClusterRefuses(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		n    int
		opts []jetstream.ClusterOption
		want string
	}{
		{"no node", 0, nil, "0 nodes"},
		{"too many", 33, nil, "33 nodes"},
		{"nil option", 3, []jetstream.ClusterOption{nil}, "nil option"},
		{"bad name", 3, []jetstream.ClusterOption{jetstream.ClusterName("a b")}, "ClusterName"},
		{"zero timeout", 3, []jetstream.ClusterOption{jetstream.ClusterReadyTimeout(0)}, "ClusterReadyTimeout"},
		{"nil node options", 3, []jetstream.ClusterOption{jetstream.NodeOptions(nil)}, "NodeOptions"},
		{"nil logger", 3, []jetstream.ClusterOption{jetstream.ClusterLogger(nil)}, "ClusterLogger"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := jetstream.StartCluster(t.Context(), tt.n, dir, tt.opts...)
			if err == nil {
				c.Close()
				t.Fatal("started")
			}
			var oe *jetstream.OptionError
			if !errors.As(err, &oe) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q: want an *OptionError naming %q", err, tt.want)
			}
		})
	}
}

// A node that cannot start (its client port is taken) fails StartCluster
// at once, not at the ready timeout, with every node started so far shut
// down again (the leak check sees none of their goroutines).
func TestStartClusterFails(t *testing.T) {
	leaktest.Check(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	taken := l.Addr().(*net.TCPAddr).Port
	_, err = jetstream.StartCluster(t.Context(), 3, t.TempDir(),
		jetstream.ClusterReadyTimeout(time.Hour), // a hang would show as the test's timeout
		jetstream.NodeOptions(func(i int, o *server.Options) {
			if i == 2 {
				o.Port = taken
			}
		}))
	if err == nil || !strings.Contains(err.Error(), "n3") || !strings.Contains(err.Error(), "listening") {
		t.Fatalf("StartCluster with node n3's port taken: %v", err)
	}
}

// dir "" makes a temporary directory that Close removes; Close is
// idempotent; a closed cluster starts no node and a bad index is an error.
func TestClusterClose(t *testing.T) {
	leaktest.Check(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	c, err := jetstream.StartCluster(ctx, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(c.StoreDir(0))
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("store directory: %v", err)
	}
	if err := c.StopNode(2); err == nil {
		t.Error("StopNode(2) of 2 nodes: no error")
	}
	if err := c.RestartNode(ctx, -1); err == nil {
		t.Error("RestartNode(-1): no error")
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temporary directory %s after Close: %v", dir, err)
	}
	if err := c.RestartNode(ctx, 0); !errors.Is(err, jetstream.ErrClusterClosed) {
		t.Errorf("RestartNode after Close: %v, want ErrClusterClosed", err)
	}
	for i := range c.Len() {
		if c.Server(i) != nil {
			t.Errorf("node %d still running after Close", i)
		}
	}
}

// ClusterLogger receives the nodes' logs, each record naming its node.
func TestClusterLogger(t *testing.T) {
	leaktest.Check(t)
	var buf syncBuffer
	startCluster(t, 2, jetstream.ClusterLogger(slog.New(slog.NewTextHandler(&buf, nil))))
	for _, want := range []string{"node=n1", "node=n2", "JetStream"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
