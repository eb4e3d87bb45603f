// Package natstest runs real NATS servers with JetStream inside a test
// process: one node (Server) or a cluster on loopback routes (Cluster), each
// with its file store in t.TempDir() and random ports, shut down — and waited
// for — at the test's cleanup, so a leak check after the test sees none of
// their goroutines. Connect opens a client connection closed at cleanup.
// It owns those servers, their directories and connections for one test;
// it never listens beyond 127.0.0.1, never uses a fixed port and never
// keeps a server across tests.
//
// Set NATSTEST_LOG=1 to see the servers' logs.
package natstest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// ReadyTimeout bounds how long Server, Cluster and Restart wait for a node
// to accept connections and for JetStream to be ready (a cluster: a meta
// leader elected and every node current).
const ReadyTimeout = 30 * time.Second

// Option adjusts a node's server options before it starts (Server only;
// for Cluster nodes use ClusterWith).
type Option func(*server.Options)

// Node is one nats-server of a test. Its methods are safe for concurrent
// use.
type Node struct {
	t    testing.TB
	mu   sync.Mutex
	opts server.Options // as last started; ports fixed after the first start
	srv  *server.Server // nil while shut down
}

// Server starts one JetStream node on 127.0.0.1 with a random port, its
// file store in t.TempDir(), and shuts it down at t's cleanup. It fails t
// if the node is not ready within ReadyTimeout.
func Server(t testing.TB, opts ...Option) *Node {
	t.Helper()
	o := baseOptions(t, "n1")
	for _, f := range opts {
		f(&o)
	}
	n := &Node{t: t, opts: o}
	if err := n.start(); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	t.Cleanup(n.Shutdown)
	if err := WaitReady(t.Context(), ReadyTimeout, n); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return n
}

// Cluster starts an n-node JetStream cluster (named "natstest") on
// loopback: every node routes to every other, has its own server name
// (n1…nN), store directory and random ports. It returns once a meta leader
// is elected and every node is current, and shuts all nodes down at t's
// cleanup.
func Cluster(t testing.TB, n int, opts ...Option) []*Node {
	t.Helper()
	if n < 1 {
		t.Fatalf("natstest: Cluster of %d nodes", n)
	}
	ports := freePorts(t, n)
	nodes := make([]*Node, n)
	for i := range nodes {
		o := baseOptions(t, fmt.Sprintf("n%d", i+1))
		o.Cluster = server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: ports[i], PoolSize: -1}
		for j, p := range ports {
			if j != i {
				o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
			}
		}
		for _, f := range opts {
			f(&o)
		}
		nodes[i] = &Node{t: t, opts: o}
	}
	for _, nd := range nodes {
		if err := nd.start(); err != nil {
			t.Fatalf("natstest: %v", err)
		}
		t.Cleanup(nd.Shutdown)
	}
	if err := WaitReady(t.Context(), ReadyTimeout, nodes...); err != nil {
		t.Fatalf("natstest: %v", err)
	}
	return nodes
}

// URLs returns the client URLs of nodes, comma-separated, for nats.Connect.
func URLs(nodes ...*Node) string {
	u := make([]string, 0, len(nodes))
	for _, n := range nodes {
		u = append(u, n.URL())
	}
	return strings.Join(u, ",")
}

// Connect connects to urls (each may itself be a comma-separated list) and
// returns the connection and its JetStream context; the connection is
// closed at t's cleanup (before the servers, which were started earlier).
func Connect(t testing.TB, urls ...string) (*nats.Conn, natsjs.JetStream) {
	t.Helper()
	nc, err := nats.Connect(strings.Join(urls, ","), nats.Name(t.Name()), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatalf("natstest: connect %s: %v", strings.Join(urls, ","), err)
	}
	t.Cleanup(nc.Close)
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatalf("natstest: jetstream: %v", err)
	}
	return nc, js
}

func baseOptions(t testing.TB, name string) server.Options {
	return server.Options{
		ServerName: name,
		Host:       "127.0.0.1",
		Port:       -1,
		HTTPPort:   0,
		NoSigs:     true,
		NoLog:      os.Getenv("NATSTEST_LOG") == "",
		JetStream:  true,
		StoreDir:   t.TempDir(),
		// Small limits keep the servers' memory reservation modest.
		JetStreamMaxMemory: 256 << 20,
		JetStreamMaxStore:  1 << 30,
	}
}

// freePorts picks n loopback ports nobody listens on (by listening on :0
// and closing), for route URLs that must be known before the nodes start.
func freePorts(t testing.TB, n int) []int {
	t.Helper()
	ls := make([]net.Listener, n)
	ports := make([]int, n)
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("natstest: free port: %v", err)
		}
		ls[i] = l
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func (n *Node) start() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv != nil {
		return nil
	}
	o := n.opts
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("node %s: %w", o.ServerName, err)
	}
	if !o.NoLog {
		s.ConfigureLogger()
	}
	s.Start() // starts its own goroutines and returns
	if !s.ReadyForConnections(ReadyTimeout) {
		s.Shutdown()
		s.WaitForShutdown()
		return fmt.Errorf("node %s: not accepting connections within %v", o.ServerName, ReadyTimeout)
	}
	// A restart listens on the same ports, so clients and routes find it.
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		n.opts.Port = a.Port
	}
	if a := s.ClusterAddr(); a != nil {
		n.opts.Cluster.Port = a.Port
	}
	n.srv = s
	return nil
}

// Server returns the running nats-server (nil while shut down).
func (n *Node) Server() *server.Server {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.srv
}

// Name is the node's server name.
func (n *Node) Name() string { return n.opts.ServerName }

// StoreDir is the node's JetStream store directory (kept across Restart).
func (n *Node) StoreDir() string { return n.opts.StoreDir }

// URL is the node's client URL, nats://127.0.0.1:<port>. It stays the same
// across Restart.
func (n *Node) URL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("nats://127.0.0.1:%d", n.opts.Port)
}

// Shutdown stops the node and waits until all its goroutines ended. It is
// idempotent.
func (n *Node) Shutdown() {
	n.mu.Lock()
	s := n.srv
	n.srv = nil
	n.mu.Unlock()
	if s != nil {
		s.Shutdown()
		s.WaitForShutdown()
	}
}

// Restart shuts the node down (if running) and starts it again on the same
// ports and store directory, then waits until it is ready (in a cluster:
// until it is current with the meta group).
func (n *Node) Restart() {
	n.t.Helper()
	n.Shutdown()
	if err := n.start(); err != nil {
		n.t.Fatalf("natstest: restart: %v", err)
	}
	if err := WaitReady(context.Background(), ReadyTimeout, n); err != nil {
		n.t.Fatalf("natstest: restart: %v", err)
	}
}

// WaitReady polls until JetStream is ready on every running node of
// nodes: enabled, and in a cluster a meta leader known and the node
// current. It returns an error after timeout or when ctx ends.
func WaitReady(ctx context.Context, timeout time.Duration, nodes ...*Node) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		why := notReady(nodes)
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("JetStream not ready: %s: %w", why, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

func notReady(nodes []*Node) string {
	running := 0
	var leader *server.Server
	for _, n := range nodes {
		s := n.Server()
		if s == nil {
			continue
		}
		running++
		if !s.JetStreamEnabled() {
			return n.Name() + ": JetStream not enabled"
		}
		if n.opts.Cluster.Port == 0 {
			continue
		}
		if !s.JetStreamIsCurrent() {
			return n.Name() + ": not current with the meta group"
		}
		jsz, err := s.Jsz(&server.JSzOptions{})
		if err != nil || jsz.Meta == nil || jsz.Meta.Leader == "" {
			return n.Name() + ": no meta leader known"
		}
		if s.JetStreamIsLeader() {
			leader = s
		}
	}
	// The leader places replicas only on peers it has stats from: wait
	// until it knows every running node (when the leader is one of nodes).
	if leader != nil {
		if p := leader.JetStreamClusterPeers(); len(p) < running {
			return fmt.Sprintf("meta leader knows %d of %d peers", len(p), running)
		}
	}
	return ""
}
