package natstest_test

import (
	"context"
	"testing"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/tidygram/tidygram/internal/wait"
	"github.com/tidygram/tidygram/jetstream/internal/natstest"
	"github.com/tidygram/tidygram/leak/leaktest"
)

func TestServer(t *testing.T) {
	t.Run("node", func(t *testing.T) {
		leaktest.Check(t)
		n := natstest.Server(t)
		_, js := natstest.Connect(t, n.URL())
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "S", Subjects: []string{"s.>"}, Storage: natsjs.FileStorage}); err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "s.1", []byte("x")); err != nil {
			t.Fatal(err)
		}
		n.Shutdown()
		n.Shutdown() // idempotent
		n.Restart()
		// The file store kept the message across the restart.
		var info *natsjs.StreamInfo
		wait.Context(ctx, func() bool { // the client reconnects within a few waits
			s, err := js.Stream(ctx, "S")
			if err == nil {
				info, err = s.Info(ctx)
			}
			return err == nil
		})
		if info == nil || info.State.Msgs != 1 {
			t.Fatalf("after restart: %+v", info)
		}
	})
}

func TestCluster(t *testing.T) {
	leaktest.Check(t)
	nodes := natstest.Cluster(t, 3)
	_, js := natstest.Connect(t, natstest.URLs(nodes...))
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	s, err := js.CreateStream(ctx, natsjs.StreamConfig{Name: "R3", Subjects: []string{"r3.>"}, Replicas: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := js.Publish(ctx, "r3.x", []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 10 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
		t.Fatalf("stream: msgs %d, cluster %+v", info.State.Msgs, info.Cluster)
	}
	// A node down: the R3 stream keeps taking writes.
	nodes[0].Shutdown()
	for i := range 5 {
		if _, err := js.Publish(ctx, "r3.x", []byte{byte(i)}); err != nil {
			t.Fatalf("publish with a node down: %v", err)
		}
	}
}
