package jetstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Defaults of StartCluster's options.
const (
	DefaultClusterName = "tidygram" // ClusterName
	// DefaultClusterReadyTimeout bounds StartCluster's and RestartNode's
	// wait for a node to accept connections and for JetStream to be ready,
	// when ctx has no earlier deadline.
	DefaultClusterReadyTimeout = 30 * time.Second
	// Each node's JetStream limits (change them with NodeOptions): small,
	// so that n nodes in one process reserve little.
	DefaultClusterMaxMemory = 256 << 20 // bytes of memory storage per node
	DefaultClusterMaxStore  = 1 << 30   // bytes of file storage per node
)

// clusterOptErr is StartCluster's error for an invalid option: an
// *OptionError, as Open's.
func clusterOptErr(option, format string, args ...any) error {
	return &OptionError{Option: option, Reason: fmt.Sprintf(format, args...)}
}

// ErrClusterClosed is returned by the methods of a closed Cluster that
// would start a node.
var ErrClusterClosed = errors.New("jetstream: cluster closed")

// Cluster is an n-node NATS JetStream cluster inside this process, on
// 127.0.0.1, for demos and tests of several bot instances on one machine
// without a nats-server binary: every node is a real nats-server with
// JetStream on file storage, its own store directory, server name and
// random client and route ports, routed to every other node.
//
// It is not a production deployment: the nodes share this process's fate
// and CPU, so it shows failover between nodes (StopNode, RestartNode) but
// no tolerance to the loss of the machine or of the process. The nodes'
// fsync policy is nats-server's default (sync_interval 2 min; change it
// with NodeOptions): an acknowledged write of an R3 stream is in the page
// cache of a majority of the nodes and on disk at the next sync.
//
// The methods of a Cluster are safe for concurrent use. Close shuts every
// node down and waits for it: after Close no goroutine of the cluster is
// left.
type Cluster struct {
	cfg    clusterConfig
	dir    string
	ownDir bool // dir was created by StartCluster and is removed by Close
	nodes  []*clusterNode
	urls   []string // client URLs, fixed once started

	mu     sync.Mutex
	closed bool
}

// clusterNode is one nats-server of a Cluster. mu serialises its starts
// and stops.
type clusterNode struct {
	mu   sync.Mutex
	opts server.Options // as started; ports fixed after the first start
	srv  *server.Server // nil while stopped
}

// ClusterOption configures StartCluster.
type ClusterOption func(*clusterConfig) error

type clusterConfig struct {
	name         string
	readyTimeout time.Duration
	nodeOpts     []func(i int, o *server.Options)
	log          *slog.Logger
}

// ClusterName sets the cluster's name (default "tidygram"): letters,
// digits, '_' and '-', at most 32.
func ClusterName(name string) ClusterOption {
	return func(c *clusterConfig) error {
		if !nameRE.MatchString(name) {
			return clusterOptErr("ClusterName", "%q: want 1–32 letters, digits, '_' or '-'", name)
		}
		c.name = name
		return nil
	}
}

// ClusterReadyTimeout bounds the wait of StartCluster and RestartNode for
// the nodes to be ready (default DefaultClusterReadyTimeout) when ctx has
// no earlier deadline.
func ClusterReadyTimeout(d time.Duration) ClusterOption {
	return func(c *clusterConfig) error {
		if d <= 0 {
			return clusterOptErr("ClusterReadyTimeout", "%v: want a positive duration", d)
		}
		c.readyTimeout = d
		return nil
	}
}

// NodeOptions adjusts node i's (0-based) server options before its first
// start: JetStream limits, SyncAlways, authorization, a fixed port. The
// cluster's own settings (JetStream, StoreDir, ServerName, Cluster,
// Routes) are set before f runs; changing them is at the caller's risk.
func NodeOptions(f func(i int, o *server.Options)) ClusterOption {
	return func(c *clusterConfig) error {
		if f == nil {
			return clusterOptErr("NodeOptions", "nil function")
		}
		c.nodeOpts = append(c.nodeOpts, f)
		return nil
	}
}

// ClusterLogger sends the nodes' logs to l (default: none). Notices are
// logged at Info, warnings at Warn, errors and fatal errors at Error, and
// debug lines at Debug when l enables it; each record carries the node's
// server name.
func ClusterLogger(l *slog.Logger) ClusterOption {
	return func(c *clusterConfig) error {
		if l == nil {
			return clusterOptErr("ClusterLogger", "nil logger")
		}
		c.log = l
		return nil
	}
}

// StartCluster starts an n-node JetStream cluster in this process, each
// node's file store in dir/<name> (n1, n2, …; dir "" makes a temporary
// directory that Close removes), all listening on 127.0.0.1 on random
// ports, every node routed to every other. With n = 1 it starts a single
// JetStream server, not clustered.
//
// It returns once every node accepts connections and JetStream is ready:
// a meta leader elected, every node current with the meta group, and the
// leader aware of every node (so that an R<n> stream can be placed). The
// wait is bounded by ctx and by ClusterReadyTimeout; on any error the
// nodes started so far are shut down again. An invalid option or node
// count is an *OptionError.
func StartCluster(ctx context.Context, n int, dir string, opts ...ClusterOption) (*Cluster, error) {
	cfg := clusterConfig{name: DefaultClusterName, readyTimeout: DefaultClusterReadyTimeout, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		if o == nil {
			return nil, clusterOptErr("StartCluster", "nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if n < 1 || n > 32 {
		return nil, clusterOptErr("StartCluster", "%d nodes: want 1…32", n)
	}
	c := &Cluster{cfg: cfg, dir: dir}
	if dir == "" {
		d, err := os.MkdirTemp("", "tidygram-cluster-")
		if err != nil {
			return nil, fmt.Errorf("jetstream: cluster directory: %w", err)
		}
		c.dir, c.ownDir = d, true
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.readyTimeout)
	defer cancel()
	// Route ports must be known before the nodes start: they are picked
	// free and may be taken by someone else before a node listens on
	// them. Then start over with other ports, a few times.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = c.start(ctx, n); err == nil || !errors.Is(err, errPortTaken) {
			break
		}
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// errPortTaken marks a start that failed because a port picked free was
// taken meanwhile.
var errPortTaken = errors.New("port taken")

// start builds the nodes' options and starts them. On an error every node
// it started is shut down.
func (c *Cluster) start(ctx context.Context, n int) error {
	var routePorts []int
	if n > 1 {
		var err error
		if routePorts, err = freePorts(n); err != nil {
			return err
		}
	}
	c.nodes = make([]*clusterNode, n)
	for i := range c.nodes {
		name := fmt.Sprintf("n%d", i+1)
		o := server.Options{
			ServerName:         name,
			Host:               "127.0.0.1",
			Port:               server.RANDOM_PORT,
			NoSigs:             true,
			JetStream:          true,
			StoreDir:           filepath.Join(c.dir, name),
			JetStreamMaxMemory: DefaultClusterMaxMemory,
			JetStreamMaxStore:  DefaultClusterMaxStore,
		}
		if n > 1 {
			o.Cluster = server.ClusterOpts{Name: c.cfg.name, Host: "127.0.0.1", Port: routePorts[i]}
			for j, p := range routePorts {
				if j != i {
					o.Routes = append(o.Routes, &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", p)})
				}
			}
		}
		for _, f := range c.cfg.nodeOpts {
			f(i, &o)
		}
		c.nodes[i] = &clusterNode{opts: o}
	}
	for _, nd := range c.nodes {
		if err := c.startNode(ctx, nd); err != nil {
			c.stopAll()
			return err
		}
	}
	if err := c.waitReady(ctx); err != nil {
		c.stopAll()
		return err
	}
	c.urls = make([]string, n)
	for i, nd := range c.nodes {
		c.urls[i] = fmt.Sprintf("nats://127.0.0.1:%d", nd.opts.Port)
	}
	return nil
}

// freePorts returns n loopback ports nobody listened on a moment ago.
func freePorts(n int) ([]int, error) {
	ports := make([]int, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("jetstream: cluster: a free port: %w", err)
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// startNode starts nd and waits until it accepts connections; its client
// port is then fixed, so a restart listens where clients look for it.
func (c *Cluster) startNode(ctx context.Context, nd *clusterNode) error {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.srv != nil {
		return nil
	}
	o := nd.opts
	s, err := server.NewServer(&o)
	if err != nil {
		return fmt.Errorf("jetstream: cluster node %s: %w", o.ServerName, err)
	}
	// The logger also catches the fatal errors a server reports instead
	// of failing Start, e.g. a port it cannot listen on.
	lg := &slogLogger{l: c.cfg.log.With("node", o.ServerName)}
	s.SetLoggerV2(lg, c.cfg.log.Enabled(ctx, slog.LevelDebug), false, false)
	s.Start() // starts the server's goroutines and returns
	if err := waitListening(ctx, s, lg); err != nil {
		s.Shutdown()
		s.WaitForShutdown()
		return fmt.Errorf("jetstream: cluster node %s: %w", o.ServerName, err)
	}
	if a, ok := s.Addr().(*net.TCPAddr); ok {
		nd.opts.Port = a.Port
	}
	nd.srv = s
	return nil
}

// waitListening waits, in slices of 50 ms bounded by ctx, until s
// accepts client and route connections. A port s could not listen on (a
// route port someone took after it was picked free) fails at once, with
// errPortTaken.
func waitListening(ctx context.Context, s *server.Server, lg *slogLogger) error {
	for {
		if s.ReadyForConnections(50 * time.Millisecond) {
			return nil
		}
		if msg := lg.fatal(); msg != "" {
			if strings.Contains(msg, "listening") {
				return fmt.Errorf("%s: %w", msg, errPortTaken)
			}
			return errors.New(msg)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("not accepting connections: %w", context.Cause(ctx))
		}
	}
}

// waitReady polls until JetStream is ready on every running node, ctx
// bounding the wait.
func (c *Cluster) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		why := c.notReady()
		if why == "" {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("jetstream: cluster not ready: %s: %w", why, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// notReady says why JetStream is not ready yet ("" when it is).
func (c *Cluster) notReady() string {
	running := 0
	var leader *server.Server
	for i := range c.nodes {
		s := c.Server(i)
		if s == nil {
			continue
		}
		running++
		name := c.nodes[i].opts.ServerName
		if !s.JetStreamEnabled() {
			return name + ": JetStream not enabled"
		}
		if len(c.nodes) == 1 {
			continue
		}
		if !s.JetStreamIsCurrent() {
			return name + ": not current with the meta group"
		}
		jsz, err := s.Jsz(&server.JSzOptions{})
		if err != nil || jsz.Meta == nil || jsz.Meta.Leader == "" {
			return name + ": no meta leader known"
		}
		if s.JetStreamIsLeader() {
			leader = s
		}
	}
	if running == 0 {
		return "no node running"
	}
	// The leader places replicas only on peers it has heard from.
	if len(c.nodes) > 1 {
		if leader == nil {
			return "no running node is the meta leader"
		}
		if p := leader.JetStreamClusterPeers(); len(p) < running {
			return fmt.Sprintf("the meta leader knows %d of %d running nodes", len(p), running)
		}
	}
	return ""
}

// Len returns the number of nodes.
func (c *Cluster) Len() int { return len(c.nodes) }

// URLs returns the nodes' client URLs (nats://127.0.0.1:<port>), the
// stopped ones included: they stay the same across StopNode and
// RestartNode. strings.Join(c.URLs(), ",") is a URL for nats.Connect or
// the spool's URL option; the client fails over between them.
func (c *Cluster) URLs() []string { return append([]string(nil), c.urls...) }

// Server returns node i's running nats-server, nil while it is stopped or
// when i is out of range.
func (c *Cluster) Server(i int) *server.Server {
	if i < 0 || i >= len(c.nodes) {
		return nil
	}
	nd := c.nodes[i]
	nd.mu.Lock()
	defer nd.mu.Unlock()
	return nd.srv
}

// NodeName returns node i's server name ("n1" for node 0, …).
func (c *Cluster) NodeName(i int) string {
	if i < 0 || i >= len(c.nodes) {
		return ""
	}
	return c.nodes[i].opts.ServerName
}

// StoreDir returns node i's JetStream store directory, kept across
// StopNode and RestartNode.
func (c *Cluster) StoreDir(i int) string {
	if i < 0 || i >= len(c.nodes) {
		return ""
	}
	return c.nodes[i].opts.StoreDir
}

// StopNode stops node i (0-based) abruptly and waits until all its
// goroutines ended: Shutdown without lame-duck mode, so its clients'
// connections and its routes close at once, with no grace for clients to
// move and no leadership handed over; its peers elect new raft leaders and
// clients reconnect to another node. In-process this is the closest to a
// SIGKILL of a node, but not equal: the node still closes its store files
// in order and tries a snapshot of its meta state. Stopping a stopped node
// does nothing.
func (c *Cluster) StopNode(i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("jetstream: cluster has no node %d (0…%d)", i, len(c.nodes)-1)
	}
	c.nodes[i].stop()
	return nil
}

func (nd *clusterNode) stop() {
	nd.mu.Lock()
	defer nd.mu.Unlock()
	if nd.srv != nil {
		nd.srv.Shutdown()
		nd.srv.WaitForShutdown()
		nd.srv = nil
	}
}

// RestartNode starts node i again, on the same ports and store directory,
// and waits until JetStream is ready on every running node (the restarted
// one current with the meta group), bounded by ctx and
// ClusterReadyTimeout. A running node is left as it is.
func (c *Cluster) RestartNode(ctx context.Context, i int) error {
	if i < 0 || i >= len(c.nodes) {
		return fmt.Errorf("jetstream: cluster has no node %d (0…%d)", i, len(c.nodes)-1)
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return ErrClusterClosed
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.readyTimeout)
	defer cancel()
	if err := c.startNode(ctx, c.nodes[i]); err != nil {
		return err
	}
	// Close may have run while the node started: it must not outlive it.
	c.mu.Lock()
	closed = c.closed
	c.mu.Unlock()
	if closed {
		c.nodes[i].stop()
		return ErrClusterClosed
	}
	return c.waitReady(ctx)
}

// Close shuts every node down (as StopNode, all at once) and waits until
// all their goroutines ended, then removes the store directories if
// StartCluster made their parent (dir ""). It is idempotent; the error is
// the removal's.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.stopAll()
	if c.ownDir {
		if err := os.RemoveAll(c.dir); err != nil {
			return fmt.Errorf("jetstream: cluster: %w", err)
		}
	}
	return nil
}

// stopAll stops every node, in parallel: a node stopping alone waits for
// elections among the rest that nobody needs at the end.
func (c *Cluster) stopAll() {
	var wg sync.WaitGroup
	for _, nd := range c.nodes {
		wg.Go(nd.stop)
	}
	wg.Wait()
}

// slogLogger adapts a *slog.Logger to nats-server's Logger and keeps the
// first fatal error.
type slogLogger struct {
	l      *slog.Logger
	mu     sync.Mutex
	fatalf string
}

func (s *slogLogger) fatal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fatalf
}

func (s *slogLogger) log(level slog.Level, format string, v []any) {
	if s.l.Enabled(context.Background(), level) {
		s.l.Log(context.Background(), level, strings.TrimSpace(fmt.Sprintf(format, v...)))
	}
}

func (s *slogLogger) Noticef(format string, v ...any) { s.log(slog.LevelInfo, format, v) }
func (s *slogLogger) Warnf(format string, v ...any)   { s.log(slog.LevelWarn, format, v) }
func (s *slogLogger) Errorf(format string, v ...any)  { s.log(slog.LevelError, format, v) }
func (s *slogLogger) Debugf(format string, v ...any)  { s.log(slog.LevelDebug, format, v) }
func (s *slogLogger) Tracef(format string, v ...any)  { s.log(slog.LevelDebug-4, format, v) }

// Fatalf logs at Error; the server does not exit (it is not its process).
func (s *slogLogger) Fatalf(format string, v ...any) {
	s.mu.Lock()
	if s.fatalf == "" {
		s.fatalf = strings.TrimSpace(fmt.Sprintf(format, v...))
	}
	s.mu.Unlock()
	s.log(slog.LevelError, format, v)
}
